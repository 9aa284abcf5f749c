"""Shared pieces of every CLI command: --json, output, workspace lookup, progress."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightdom_tui.workspace import Workspace, open_workspace

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]

console = Console()
err_console = Console(stderr=True)


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
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        human(console)
    else:
        console.print_json(data=data, default=str)


def home_option(ctx: typer.Context) -> Path | None:
    """The global --home given to the root command, if any."""
    root = ctx.find_root()
    return (root.obj or {}).get("home") if isinstance(root.obj, dict) else None


def workspace_from(ctx: typer.Context) -> Workspace:
    """Open the workspace chosen by --home / LIGHTDOM_HOME / the current directory."""
    return open_workspace(home_option(ctx))
