"""Training runs as database records: create, list, show, cancel, resume.

``TrainingRun.config_json`` holds ``{"train": <TrainConfig>, "adapter_name": ...,
"memory_estimate": {...}, "data": {<split>: <SplitStats>}, "summary": {...}}``; the
per-step curve lives in ``RunMetric`` rows.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, delete, select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import RunMetric, TrainingRun, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.processes import pid_alive

if TYPE_CHECKING:  # pragma: no cover
    from lightdom_tui.training.callbacks import TrainingCallback
    from lightdom_tui.training.config import TrainResult
    from lightdom_tui.workspace import Workspace

LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "safetensors", "lightdom-tui")


@dataclass
class RunSummary:
    """One line of `lightdom runs list`."""

    id: int
    status: str
    dataset_id: int | None
    base_version_id: int | None
    adapter_version_id: int | None
    method: str
    preset: str | None
    step: int
    total_steps: int | None
    alive: bool  # a live process is working on it
    created_at: str
    error: str | None = None


@dataclass
class RunDetail(RunSummary):
    """`lightdom runs show ID`: the record, its config and its metric curve."""

    config: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, Any] = field(default_factory=dict)
    last_checkpoint: str | None = None
    output_dir: str | None = None
    cancel_requested: bool = False
    metrics: list[dict[str, Any]] = field(default_factory=list)


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape a run's numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def get_run(session: Session, run_id: int) -> TrainingRun:
    """A run by id, or a clear error."""
    run = session.get(TrainingRun, int(run_id))
    if run is None:
        raise LightdomError(f"run {run_id}: no such training run (see `lightdom runs list`)")
    return run


def run_meta(run: TrainingRun) -> dict[str, Any]:
    """The parsed config_json of a run."""
    return loads(run.config_json, {}) or {}


def update_meta(session: Session, run: TrainingRun, **values: Any) -> None:
    """Merge keys into a run's config_json."""
    meta = run_meta(run)
    meta.update(values)
    run.config_json = dumps(meta)
    session.add(run)


def last_step(session: Session, run_id: int) -> int:
    """The highest step with a metric row (0 when none)."""
    rows = session.exec(select(RunMetric.step).where(RunMetric.run_id == run_id).order_by(RunMetric.step.desc()))  # type: ignore[attr-defined]
    return rows.first() or 0


def _summary(session: Session, run: TrainingRun) -> dict[str, Any]:
    assert run.id is not None
    return {
        "id": run.id,
        "status": run.status,
        "dataset_id": run.dataset_id,
        "base_version_id": run.base_version_id,
        "adapter_version_id": run.adapter_version_id,
        "method": run.method,
        "preset": run.preset,
        "step": last_step(session, run.id),
        "total_steps": run.total_steps,
        "alive": run.status == "running" and pid_alive(run.pid),
        "created_at": run.created_at.isoformat(),
        "error": run.error,
    }


def list_runs(workspace: Workspace, limit: int = 100) -> list[RunSummary]:
    """Newest runs first."""
    with workspace.session() as session:
        runs = session.exec(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit))  # type: ignore[union-attr]
        return [RunSummary(**_summary(session, run)) for run in runs]


def show_run(workspace: Workspace, run_id: int) -> RunDetail:
    """A run with its config, library versions and every metric row in step order."""
    with workspace.session() as session:
        run = get_run(session, run_id)
        rows = session.exec(select(RunMetric).where(RunMetric.run_id == run.id).order_by(RunMetric.step))  # type: ignore[arg-type]
        metrics = [
            {
                "step": m.step,
                "epoch": m.epoch,
                "loss": m.loss,
                "eval_loss": m.eval_loss,
                "perplexity": m.perplexity,
                "learning_rate": m.learning_rate,
                "grad_norm": m.grad_norm,
                "tokens_per_sec": m.tokens_per_sec,
            }
            for m in rows
        ]
        return RunDetail(
            **_summary(session, run),
            config=run_meta(run),
            library_versions=loads(run.library_versions_json, {}),
            last_checkpoint=run.last_checkpoint,
            output_dir=run.output_dir,
            cancel_requested=run.cancel_requested,
            metrics=metrics,
        )


def request_cancel(workspace: Workspace, run_id: int) -> RunSummary:
    """Ask a running run to stop at its next step (it keeps its last checkpoint)."""
    with workspace.session() as session:
        run = get_run(session, run_id)
        if run.status not in ("queued", "running"):
            raise LightdomError(f"run {run_id}: is {run.status}; only a queued or running run can be cancelled")
        run.cancel_requested = True
        if run.status == "running" and not pid_alive(run.pid):
            # Nobody will see the flag: the process died (kill -9); record the outcome now.
            run.status, run.finished_at = "cancelled", utcnow()
        session.add(run)
        session.flush()
        return RunSummary(**_summary(session, run))


def is_cancel_requested(workspace: Workspace, run_id: int) -> bool:
    """The cancel flag, read in its own short transaction."""
    with workspace.session() as session:
        flag = session.exec(select(TrainingRun.cancel_requested).where(TrainingRun.id == run_id)).first()
        return bool(flag)


def delete_metrics_after(workspace: Workspace, run_id: int, step: int) -> int:
    """Remove metric rows past ``step`` (written after the checkpoint we resume from)."""
    with workspace.session() as session:
        result = session.exec(delete(RunMetric).where(RunMetric.run_id == run_id, RunMetric.step > step))  # type: ignore[call-overload]
        return int(result.rowcount or 0)


def resume_run(
    workspace: Workspace, run_id: int, callbacks: list[TrainingCallback] | None = None
) -> TrainResult:
    """Continue a crashed, failed or cancelled run from its last checkpoint, in this process."""
    from lightdom_tui.training.trainer import run_training

    with workspace.session() as session:
        run = get_run(session, run_id)
        if run.status == "completed":
            raise LightdomError(f"run {run_id}: already completed; nothing to resume")
        if run.status == "running" and pid_alive(run.pid) and run.pid != os.getpid():
            raise LightdomError(f"run {run_id}: still running in process {run.pid}; cancel it first")
        run.cancel_requested = False
        session.add(run)
    return run_training(workspace, run_id, callbacks=callbacks, resume=True)
