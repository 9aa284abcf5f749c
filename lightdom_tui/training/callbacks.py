"""Training callbacks: the database writer (always on) and hooks for progress displays.

The CLI adds a rich progress bar and the TUI a live plot; both only receive events,
the loop never waits on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.db.models import RunMetric, TrainingRun

if TYPE_CHECKING:  # pragma: no cover
    from lightdom_tui.workspace import Workspace


@dataclass
class StepMetrics:
    """What one optimizer step measured (eval fields set on eval steps)."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float
    tokens_per_sec: float
    eval_loss: float | None = None
    perplexity: float | None = None
    task_score: float | None = None  # config.task_metric on the validation split (eval steps only)


class TrainingCallback:
    """Base class: override the events you care about."""

    def on_start(self, run_id: int, total_steps: int, start_step: int) -> None:
        """Called once the model and data are ready."""

    def on_step(self, metrics: StepMetrics) -> None:
        """Called after every optimizer step (and its eval, if any)."""

    def on_checkpoint(self, step: int, path: Path) -> None:
        """Called after a checkpoint has been written."""

    def on_end(self, status: str, metrics: dict[str, Any]) -> None:
        """Called when the loop stops (completed, cancelled or failed)."""


class DatabaseMetrics(TrainingCallback):
    """Writes each step's metrics as a RunMetric row in its own short transaction."""

    def __init__(self, workspace: Workspace, run_id: int) -> None:
        self.workspace = workspace
        self.run_id = run_id

    def on_step(self, metrics: StepMetrics) -> None:
        with self.workspace.session() as session:
            session.add(
                RunMetric(
                    run_id=self.run_id,
                    step=metrics.step,
                    epoch=metrics.epoch,
                    loss=metrics.loss,
                    eval_loss=metrics.eval_loss,
                    perplexity=metrics.perplexity,
                    learning_rate=metrics.learning_rate,
                    grad_norm=metrics.grad_norm,
                    tokens_per_sec=metrics.tokens_per_sec,
                )
            )

    def on_checkpoint(self, step: int, path: Path) -> None:
        with self.workspace.session() as session:
            run = session.get(TrainingRun, self.run_id)
            if run is not None:
                run.last_checkpoint = str(path)
                session.add(run)


def emit(callbacks: list[TrainingCallback], event: str, *args: Any) -> None:
    """Send one event to every callback, in order."""
    for callback in callbacks:
        getattr(callback, event)(*args)
