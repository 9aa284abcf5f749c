"""The training pane shows what the trainer records (issue 15/19): the recipe plan with its time estimate, and the
validation name F1 of each eval as it arrives with the one kept; the start form reaches the use case
`lightdom train --accelerate` calls (its full launch is tests/training/test_accelerate_gloo.py's: 30 s here)."""

from __future__ import annotations

import asyncio
import os

from sqlmodel import select

from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle
from tests.tui.test_tui_training_registry import prepare


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def wait_until(pilot, condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    """Poll while the pane's own timer re-reads the followed run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.2)


def _stats(app) -> str:  # noqa: ANN001
    return str(app.query_one("#run-stats").render())


async def test_the_plan_and_each_evals_name_f1_show_as_they_are_recorded(workspace, tiny_model_dir) -> None:  # noqa: ANN001
    """A run recorded by the trainer's own pre-check (its recipe plan in the meta) and running in this process:
    the pane shows the plan and the time it leaves, then each eval's name F1 as the trainer appends it to the
    meta, the best one (the checkpoint kept) marked — a lower score later keeps the earlier best."""
    from lightdom_tui.training.callbacks import DatabaseMetrics, StepMetrics
    from lightdom_tui.training.config import TrainRequest
    from lightdom_tui.training.runs import get_run, run_meta
    from lightdom_tui.training.trainer import _record_task_eval, _set_status, create_run

    prepare(workspace, tiny_model_dir)
    run_id = create_run(workspace, TrainRequest(dataset="d", base="tiny", preset="tiny-cpu",
                                                overrides={"max_steps": 8, "eval_steps": 2}))
    _set_status(workspace, run_id, "running", pid=os.getpid())
    writer = DatabaseMetrics(workspace, run_id)
    kept: list[float] = []

    def step(n: int, f1: float | None = None) -> None:
        metrics = StepMetrics(step=n, total_steps=8, epoch=n / 4, loss=2.0 - n / 10, learning_rate=1e-3,
                              grad_norm=1.0, tokens_per_sec=100.0, eval_loss=1.5 - n / 20 if f1 is not None else None,
                              task_score=f1)
        if f1 is not None:  # what the trainer does at each eval: it says whether this checkpoint is now kept
            best = not kept or f1 > kept[-1]
            kept.extend([f1] if best else [])
            _record_task_eval(workspace, run_id, n, metrics, best=best)
        writer.on_step(metrics)

    step(1)
    step(2, 0.25)
    with workspace.session() as session:
        recipe = run_meta(get_run(session, run_id))["recipe"]
    assert recipe["steps"] == 8 and recipe["summary"].startswith("8 optimizer steps")
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await wait_until(pilot, lambda: "name F1" in _stats(app))
        stats = _stats(app)
        left = recipe["estimated_seconds"] * 6 / 8  # 6 of the plan's 8 steps to go
        assert f"plan: {recipe['summary']}" in stats
        assert (f"≈ {left / 60:.0f} min left" if left >= 60 else f"≈ {left:.0f} s left") in stats
        assert "step 2 0.250 ★" in stats and "best 0.250 at step 2 (the checkpoint kept)" in stats
        step(3)
        step(4, 0.125)  # worse: the step-2 checkpoint stays the one kept
        await wait_until(pilot, lambda: "step 4 0.125" in _stats(app))
        assert "step 2 0.250 ★ · step 4 0.125  " in _stats(app) and "best 0.250 at step 2" in _stats(app)
        step(5)
        step(6, 0.5)
        await wait_until(pilot, lambda: "best 0.500 at step 6" in _stats(app))
        assert "step 6 0.500 ★" in _stats(app)
        _set_status(workspace, run_id, "cancelled")  # the poll stops once the run has ended
        await wait_until(pilot, lambda: "cancelled" in _stats(app))
        assert "left by the plan" not in _stats(app)
    with workspace.session() as session:
        evals = run_meta(get_run(session, run_id))["task_evals"]
    assert [(e["step"], e["name_f1"]) for e in evals] == [(2, 0.25), (4, 0.125), (6, 0.5)]  # what the pane showed


async def test_processes_need_the_accelerate_launch(workspace, tiny_model_dir) -> None:  # noqa: ANN001
    """The form's processes field without the accelerate launch is one line and records no run, as
    `lightdom train --processes 2` without --accelerate; a count accelerate cannot launch is refused before a
    run is recorded."""
    from lightdom_tui.db.models import TrainingRun

    prepare(workspace, tiny_model_dir)
    workspace.settings.training.base = "tiny"  # the form's default: no preview reads the embedded GGUF
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#form-preset").value = "tiny-cpu"
        app.screen.query_one("#form-processes").value = "2"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "processes: only with the accelerate launch" in _messages(app)
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#form-preset").value = "tiny-cpu"
        app.screen.query_one("#form-launch").value = "accelerate launch"
        app.screen.query_one("#form-processes").value = "0"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(app.screen.query(".dialog-text"))
                         and "through accelerate launch" in str(app.screen.query(".dialog-text").first().render()))
        await pilot.press("y")
        await settle(pilot)
        assert any(t.startswith("processes 0: expected ") for t in _messages(app))  # accelerate_config's check
    with workspace.session() as session:
        assert session.exec(select(TrainingRun)).all() == []
