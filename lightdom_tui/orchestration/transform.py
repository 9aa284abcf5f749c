"""Data-stream transformations, compiled once per run and applied to each extracted value.

A data stream's ``transformations_json`` is a list of steps such as::

    [{"op": "trim"}, {"op": "lowercase", "attribute": "title"},
     {"op": "regex_replace", "pattern": "\\s+", "replacement": " "},
     {"op": "cast", "to": "number", "attribute": "price"},
     {"op": "default", "value": "n/a"}, {"op": "length", "attribute": "h1"}]

A step without ``attribute`` applies to every attribute. Strings inside arrays are
transformed element by element (so ``trim`` works on a list of headings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lightdom_tui.errors import LightdomError

OPS = ("lowercase", "uppercase", "trim", "regex_replace", "cast", "default", "length", "count")
CAST_TYPES = ("string", "number", "integer", "boolean", "date")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}

Step = Callable[[Any], Any]


class TransformError(ValueError):
    """A value could not be transformed (e.g. cast of 'abc' to number)."""


def _elementwise(fn: Callable[[str], Any]) -> Step:
    def step(value: Any) -> Any:
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, list):
            return [fn(v) if isinstance(v, str) else v for v in value]
        return value

    return step


def _cast_number(value: Any) -> Any:
    text = value.strip().replace(",", "") if isinstance(value, str) else value  # "1,299.00"
    number = float(text)
    return int(number) if number.is_integer() and isinstance(text, str) and "." not in text else number


def _cast_integer(value: Any) -> int:
    return int(float(value.strip())) if isinstance(value, str) else int(value)


def _cast_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value.strip() if isinstance(value, str) else value).lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(lowered)


def _cast_date(value: Any) -> str:
    return datetime.fromisoformat(str(value.strip() if isinstance(value, str) else value)).isoformat()


_CASTS: dict[str, Callable[[Any], Any]] = {
    "string": str, "number": _cast_number, "integer": _cast_integer, "boolean": _cast_boolean, "date": _cast_date,
}


def _cast(to: str) -> Step:
    convert = _CASTS[to]  # chosen once per run, not per value

    def one(value: Any) -> Any:
        if value is None:
            return None
        try:
            return convert(value)
        except (ValueError, TypeError, OverflowError):
            raise TransformError(f"cannot cast {str(value)[:40]!r} to {to}") from None

    def step(value: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, list):
            return [one(v) for v in value]
        return one(value)

    return step


def _default(fallback: Any) -> Step:
    return lambda value: fallback if value is None or value == "" or value == [] else value


def _length(value: Any) -> Any:
    if value is None:
        return 0
    return len(value) if isinstance(value, (str, list, dict)) else len(str(value))


def _count(value: Any) -> int:
    if value is None or value == "":
        return 0
    return len(value) if isinstance(value, list) else 1


def compile_step(spec: Any, where: str) -> tuple[str | None, Step]:
    """Check one step and return (attribute or None for all, function); errors name the field."""
    if not isinstance(spec, dict):
        raise LightdomError(f"{where}: expected an object with an 'op'")
    op = spec.get("op")
    if op not in OPS:
        raise LightdomError(f"{where}.op: {op!r} is not one of {', '.join(OPS)}")
    target = spec.get("attribute")
    if target is not None and not isinstance(target, str):
        raise LightdomError(f"{where}.attribute: must be an attribute name")
    allowed = {"op", "attribute"} | {
        "regex_replace": {"pattern", "replacement"},
        "cast": {"to"},
        "default": {"value"},
    }.get(op, set())
    extra = set(spec) - allowed
    if extra:
        raise LightdomError(f"{where}: unknown key(s) {', '.join(sorted(extra))} for op {op}")
    if op == "lowercase":
        return target, _elementwise(str.lower)
    if op == "uppercase":
        return target, _elementwise(str.upper)
    if op == "trim":
        return target, _elementwise(lambda s: " ".join(s.split()))
    if op == "regex_replace":
        pattern, replacement = spec.get("pattern"), spec.get("replacement", "")
        if not isinstance(pattern, str):
            raise LightdomError(f"{where}.pattern: required regular expression")
        if not isinstance(replacement, str):
            raise LightdomError(f"{where}.replacement: must be a string")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise LightdomError(f"{where}.pattern: invalid regular expression: {exc}") from None
        return target, _elementwise(lambda s: compiled.sub(replacement, s))
    if op == "cast":
        to = spec.get("to")
        if to not in CAST_TYPES:
            raise LightdomError(f"{where}.to: {to!r} is not one of {', '.join(CAST_TYPES)}")
        return target, _cast(to)
    if op == "default":
        if "value" not in spec:
            raise LightdomError(f"{where}.value: required")
        return target, _default(spec["value"])
    if op == "length":
        return target, _length
    return target, _count


def check_transformations(specs: Any, where: str = "transformations") -> list[dict[str, Any]]:
    """Validate a transformation list (raises LightdomError naming the step and field)."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise LightdomError(f"{where}: expected a list of steps")
    for index, spec in enumerate(specs):
        compile_step(spec, f"{where}[{index}]")
    return list(specs)


class Pipeline:
    """Compiled transformations: ``apply(name, value)`` runs the steps for that attribute in order."""

    def __init__(self, specs: list[dict[str, Any]], attribute_names: list[str]) -> None:
        compiled = [compile_step(spec, f"transformations[{i}]") for i, spec in enumerate(specs)]
        self._steps: dict[str, list[Step]] = {
            name: [fn for target, fn in compiled if target is None or target == name] for name in attribute_names
        }

    def apply(self, name: str, value: Any) -> Any:
        """Transformed value; raises TransformError when a step cannot handle it."""
        for step in self._steps.get(name, ()):
            value = step(value)
        return value

    def apply_column(self, name: str, values: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
        """A column of values transformed; failures come back by index (their value becomes None)."""
        steps = self._steps.get(name, ())
        out: list[Any] = []
        failed: dict[int, str] = {}
        for index, value in enumerate(values):
            try:
                for step in steps:
                    value = step(value)
            except TransformError as exc:
                failed[index], value = str(exc), None
            out.append(value)
        return out, failed

    def has_steps(self, name: str) -> bool:
        """Whether any step applies to this attribute (lets the executor skip the call)."""
        return bool(self._steps.get(name))
