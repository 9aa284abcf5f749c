"""Attribute validation rules: checked once when defined, then applied to every extracted value.

Rules (all optional): ``required``, ``minLength``, ``maxLength``, ``pattern``, ``min``,
``max``, ``enum``. Lengths apply to strings and arrays; min/max to numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from collections.abc import Callable, Container, Sequence
from typing import Any

from lightdom_tui.errors import LightdomError

RULE_KEYS = ("required", "minLength", "maxLength", "pattern", "min", "max", "enum")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_rules(rules: Any, where: str = "validation") -> dict[str, Any]:
    """Validate a rules dict itself; errors name the rule, e.g. ``validation.pattern: …``."""
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise LightdomError(f"{where}: expected an object with {', '.join(RULE_KEYS)}")
    for key, value in rules.items():
        at = f"{where}.{key}"
        if key not in RULE_KEYS:
            raise LightdomError(f"{at}: unknown rule (known: {', '.join(RULE_KEYS)})")
        if key == "required" and not isinstance(value, bool):
            raise LightdomError(f"{at}: must be true or false")
        if key in ("minLength", "maxLength") and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise LightdomError(f"{at}: must be a non-negative integer")
        if key in ("min", "max") and not _is_number(value):
            raise LightdomError(f"{at}: must be a number")
        if key == "pattern":
            if not isinstance(value, str):
                raise LightdomError(f"{at}: must be a regular expression string")
            try:
                re.compile(value)
            except re.error as exc:
                raise LightdomError(f"{at}: invalid regular expression: {exc}") from None
        if key == "enum" and (not isinstance(value, list) or not value):
            raise LightdomError(f"{at}: must be a non-empty list")
    if "minLength" in rules and "maxLength" in rules and rules["minLength"] > rules["maxLength"]:
        raise LightdomError(f"{where}.minLength: {rules['minLength']} is greater than maxLength {rules['maxLength']}")
    if "min" in rules and "max" in rules and rules["min"] > rules["max"]:
        raise LightdomError(f"{where}.min: {rules['min']} is greater than max {rules['max']}")
    return dict(rules)


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "date":
        if isinstance(value, (date, datetime)):
            return True
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return False
            return True
        return False
    return True


_EMPTY: tuple[str, ...] = ()
_EXACT_TYPES = {"string": (str,), "number": (int, float), "boolean": (bool,), "array": (list,), "object": (dict,)}


@dataclass
class Validator:
    """Compiled rules of one attribute; ``errors(value)`` lists what is wrong (empty = valid).

    The executor calls ``scan`` on a column of values (one batch of pages); ``errors``
    explains one value.
    """

    name: str
    kind: str = "string"
    rules: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pattern = self.rules.get("pattern")
        self._pattern = re.compile(pattern) if pattern else None
        self._missing = (f"{self.name}: required value missing",) if self.rules.get("required") else _EMPTY
        self._type_only = not (set(self.rules) - {"required"})  # nothing to test after the type
        self._exact = _EXACT_TYPES.get(self.kind)  # exact type() match: True is not a number here
        self._any_size = self.kind not in ("string", "array")  # for these '' and [] are missing values
        self._passes = None if self._type_only else self._quick_test()

    def _quick_test(self) -> Callable[[Any], Any]:
        """A predicate: does a value of this attribute's exact type pass every rule? (No messages: fast.)"""
        rules, tests = self.rules, []
        low_len, high_len = rules.get("minLength"), rules.get("maxLength")
        if self.kind in ("string", "array") and (low_len is not None or high_len is not None):
            low_len = 0 if low_len is None else low_len
            high_len = float("inf") if high_len is None else high_len
            tests.append(lambda value: low_len <= len(value) <= high_len)
        low, high = rules.get("min"), rules.get("max")
        if self.kind == "number" and (low is not None or high is not None):
            low = float("-inf") if low is None else low
            high = float("inf") if high is None else high
            tests.append(lambda value: low <= value <= high)
        if self._pattern is not None and self.kind == "string":
            tests.append(self._pattern.search)
        if "enum" in rules:
            allowed = rules["enum"]
            tests.append(lambda value: value in allowed)
        if len(tests) == 1:
            return tests[0]
        return lambda value: all(test(value) for test in tests)

    def scan(self, values: Sequence[Any], skip: Container[int] = ()) -> tuple[int, list[tuple[int, Sequence[str]]]]:
        """Check a column of values at once: (how many are missing, [(index, problems)] of the invalid).

        The executor validates a batch of pages column by column, so the common case
        (present, right type, rules pass) costs a loop step and at most one quick test.
        Indices in ``skip`` (values that already failed a transformation) are left out.
        """
        missing = 0
        problems: list[tuple[int, Sequence[str]]] = []
        required, passes, errors = self._missing, self._passes, self.errors
        exact, any_size = self._exact or (), self._any_size
        for index, value in enumerate(values):
            # the common case first, the type before any comparison with '' or [] (str == list
            # is two failed __eq__ calls): present, of the exact type, passing every rule
            if type(value) in exact and (any_size or value) and (passes is None or passes(value)):
                continue
            if skip and index in skip:
                continue
            if value is None or value == "" or value == []:
                if required:
                    problems.append((index, required))
                else:
                    missing += 1
            else:  # ``errors`` explains the rest
                found = errors(value)
                if found:
                    problems.append((index, found))
        return missing, problems

    def errors(self, value: Any) -> tuple[str, ...] | list[str]:
        """Problems with ``value`` for this attribute (empty when valid)."""
        if value is None or value == "" or value == []:
            return self._missing
        exact = self._exact
        if exact is not None:
            if type(value) not in exact:
                if not _type_ok(value, self.kind):
                    return [f"{self.name}: expected {self.kind}, got {type(value).__name__} {str(value)[:40]!r}"]
        elif not _type_ok(value, self.kind):
            return [f"{self.name}: expected {self.kind}, got {type(value).__name__} {str(value)[:40]!r}"]
        if self._type_only:
            return _EMPTY
        rules = self.rules
        found: list[str] = []
        if isinstance(value, (str, list)):
            if "minLength" in rules and len(value) < rules["minLength"]:
                found.append(f"{self.name}: length {len(value)} < minLength {rules['minLength']}")
            if "maxLength" in rules and len(value) > rules["maxLength"]:
                found.append(f"{self.name}: length {len(value)} > maxLength {rules['maxLength']}")
        if _is_number(value):
            if "min" in rules and value < rules["min"]:
                found.append(f"{self.name}: {value} < min {rules['min']}")
            if "max" in rules and value > rules["max"]:
                found.append(f"{self.name}: {value} > max {rules['max']}")
        if self._pattern is not None and isinstance(value, str) and not self._pattern.search(value):
            found.append(f"{self.name}: {value[:40]!r} does not match pattern {self._pattern.pattern!r}")
        if "enum" in rules and value not in rules["enum"]:
            found.append(f"{self.name}: {str(value)[:40]!r} not in enum")
        return found
