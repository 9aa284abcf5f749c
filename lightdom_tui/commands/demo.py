"""`lightdom demo`: the closed loop, headless, on the embedded default model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lightdom_tui.commands._common import JsonOpt, emit, err_console, home_option, markup_safe


def register(app: typer.Typer) -> None:
    """Add `demo` to the root app."""
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Cap the training steps (default: the preset's epochs).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Workspace to run in (default: a fresh temporary one).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Evaluate on at most N items per set (default: all).")] = None,
    method: Annotated[str | None, typer.Option("--method", help="lora or qlora (default: the preset's, lora).")] = None,
    json: JsonOpt = False,
) -> None:
    """Init → ingest → rules → dataset → eval base → train → export → eval → simulate → deploy → generate."""
    from lightdom_tui.usecases.loop import run_demo

    # Progress goes to stderr so that --json keeps stdout to one object.
    result = run_demo(home or home_option(ctx), steps=steps, limit=limit, method=method,
                      log=lambda line: err_console.print(line, markup=False, highlight=False))

    def human(console: Console) -> None:
        met = "target met" if result.verdict.get("target_met") else "target NOT met"
        console.print(f"[bold]{met}[/] — report {markup_safe(result.report)}")

    emit(result, json, human)
