"""The one way the project reads YAML: no anchors or aliases, a size bound, a depth bound.

``yaml.safe_load`` expands aliases, so a 1.5 KB document of nested anchors ("billion
laughs") became 269 MB once stored. This loader refuses any anchor (``&a``) or alias
(``*a``, and so ``<<:`` merge keys) as it composes, before anything is built, bounds
the text to ``MAX_BYTES`` and the nesting to ``MAX_DEPTH``, and reports every problem
as one LightdomError naming the source and line.

What it builds is what JSON would give: timestamps stay the text written, mapping keys
are text, and ``!!binary``, ``!!set``, ``!!omap`` and ``!!pairs`` are refused.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from lightdom_tui.errors import LightdomError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class NoAliasLoader(yaml.SafeLoader):
    """A SafeLoader that refuses anchors and aliases and nesting deeper than ``MAX_DEPTH``."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102 - PyYAML hook
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{event.anchor}) are not allowed", event.start_mark)
        if getattr(event, "anchor", None):
            raise _Refused(f"anchors (&{event.anchor}) are not allowed", event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _refuse(loader: NoAliasLoader, node: yaml.Node) -> Any:
    raise _Refused(f"{node.tag.rsplit(':', 1)[-1]} values are not allowed (plain JSON types only)", node.start_mark)


def _integer(loader: NoAliasLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # more digits than Python converts
        raise _Refused("an integer too long to read", node.start_mark) from None


NoAliasLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
NoAliasLoader.add_constructor("tag:yaml.org,2002:int", _integer)
for _tag in ("binary", "set", "omap", "pairs"):
    NoAliasLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)


def _text_keys(value: Any) -> Any:
    """Mapping keys as JSON writes them (``1`` → ``"1"``, ``true`` → ``"true"``, ``null`` → ``"null"``)."""
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else json.dumps(k)): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_keys(v) for v in value]
    return value


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document; any problem is a LightdomError ``source:line: …``."""
    if len(text) > MAX_BYTES:
        raise LightdomError(f"{source}: larger than {MAX_BYTES // (1024 * 1024)} MiB; refused")
    try:
        return _text_keys(yaml.load(text, Loader=NoAliasLoader))  # noqa: S506 - NoAliasLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses: says where, not which line
            line = text.count("\n", 0, exc.position) + 1
            problem = f"character {exc.character!r} is not allowed in YAML"
        else:
            problem = getattr(exc, "problem", None) or str(exc)
        where = f":{line}" if line is not None else ""
        raise LightdomError(f"{source}{where}: not valid YAML: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise LightdomError(f"{source}: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own check (e.g. a float too large)
        raise LightdomError(f"{source}: not valid YAML: {exc}") from None
