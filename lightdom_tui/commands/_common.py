"""Shared pieces of every CLI command: --json, output, workspace lookup, progress."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightdom_tui.safetext import markup_safe, strip_controls
from lightdom_tui.workspace import Workspace, open_workspace

__all__ = ["JsonOpt", "SafeConsole", "console", "dumps", "emit", "err_console", "home_option", "markup_safe",
           "to_jsonable", "workspace_from"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
# What json.dumps leaves raw with ensure_ascii=False: C1 controls (\x9b is an 8-bit CSI), bidi
# overrides, line separators, and lone surrogates (which no UTF-8 stdout can write).
_JSON_RAW_CONTROLS = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


class SafeConsole(Console):
    """A console that strips escape sequences from every string it renders.

    Data reaches the console inside table cells and f-strings; stripping here covers every
    renderer. Rich markup in data is the renderer's to escape, with :func:`markup_safe`
    (only the renderer knows which part of a string is its own markup).
    """

    def render_str(self, text: str, **kwargs: Any) -> Any:  # noqa: D102 - Rich's signature
        return super().render_str(strip_controls(text), **kwargs)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


def dumps(data: Any) -> str:
    """One line of JSON, readable Unicode kept, every terminal control escaped (``\\u009b``)."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return _JSON_RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _visible(value: Any) -> Any:
    """``value`` with every string stripped of terminal controls (for the human JSON view only)."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {_visible(k): _visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_visible(v) for v in value]
    return value


def to_jsonable(value: Any) -> Any:
    """Dataclasses and paths to plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit(payload: Any, as_json: bool, human: Callable[[Console], None] | None = None) -> None:
    """Print the result: one JSON object with --json, else the human rendering."""
    data = to_jsonable(payload)
    if as_json:
        sys.stdout.write(dumps(data) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        human(console)
    else:
        console.print_json(data=_visible(data), default=str)  # Rich re-dumps: escaped C1 would come back raw


def home_option(ctx: typer.Context) -> Path | None:
    """The global --home given to the root command, if any."""
    root = ctx.find_root()
    return (root.obj or {}).get("home") if isinstance(root.obj, dict) else None


def workspace_from(ctx: typer.Context) -> Workspace:
    """Open the workspace chosen by --home / LIGHTDOM_HOME / the current directory."""
    return open_workspace(home_option(ctx))
