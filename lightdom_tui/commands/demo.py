"""`lightdom demo`: the closed loop, headless, on the embedded default model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lightdom_tui.commands._common import JsonOpt, emit, err_console, home_option
from lightdom_tui.errors import LightdomError


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
    import tempfile

    from lightdom_tui.demo import run_demo, table_rows

    from lightdom_tui.training.config import METHOD_VALUES

    if method is not None and method not in METHOD_VALUES:  # before minutes of evaluation, not after
        raise LightdomError(f"--method {method!r}: expected one of {', '.join(METHOD_VALUES)}")
    where = home or home_option(ctx) or Path(tempfile.mkdtemp(prefix="lightdom-demo-"))
    # Progress goes to stderr so that --json keeps stdout to one object.
    report = run_demo(Path(where), steps=steps, limit=limit, method=method, log=lambda line: err_console.print(line, markup=False, highlight=False))
    payload = {"home": report.home, "completed": report.completed, "chosen": report.chosen,
               "verdict": report.verdict, "table": table_rows(report),
               "stages": [{"name": s.name, "seconds": s.seconds, "ok": s.ok} for s in report.stages],
               "report": str(Path(report.home) / "training_data" / "exports" / "demo-report.json")}

    def human(console: Console) -> None:
        console.print(f"[bold]{'target met' if report.verdict.get('target_met') else 'target NOT met'}[/] — report {payload['report']}")

    emit(payload, json, human)
