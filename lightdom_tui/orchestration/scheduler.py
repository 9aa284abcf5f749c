"""Run scheduled workflows when due — from `lightdom scheduler run`, the TUI, or both at once.

Each tick finds, per active schedule workflow, the latest due time since its last
scheduled run (missed runs coalesce into one) and claims it by inserting a
``WorkflowRun`` with that ``due_time``. The ``(workflow_id, due_time)`` unique
constraint makes the claim atomic across threads and processes: whoever inserts
first runs it, everyone else skips it. So two schedulers never run a due time twice.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Workflow, WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.executor import RunResult, claim_run, fail_stale_runs, run_workflow
from lightdom_tui.orchestration.triggers import latest_due, next_due
from lightdom_tui.registry.monitoring import check_deployments
from lightdom_tui.workspace import Workspace

RUNNABLE_STATUS = ("active",)
MIN_INTERVAL_S = 1.0  # below this the loop would spin a core re-reading the database
MAX_INTERVAL_S = 86_400.0  # cron's finest grain is a minute; a day between checks is the most that makes sense


@dataclass
class Due:
    """A workflow and the due time it should run for."""

    workflow_id: int
    due_time: datetime


@dataclass
class TickResult:
    """What one tick claimed (and so will run) and what another scheduler had already taken."""

    now: str
    claimed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    failed_stale: list[int] = field(default_factory=list)  # "running" runs whose process had died


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def due_now(session: Session, now: datetime | None = None) -> list[Due]:
    """Schedule workflows (status active) with a due time in (last scheduled run, now]."""
    now = _aware(now or datetime.now(timezone.utc))
    last_due = dict(session.exec(
        select(WorkflowRun.workflow_id, func.max(WorkflowRun.due_time))
        .where(WorkflowRun.due_time.is_not(None))  # type: ignore[union-attr]
        .group_by(WorkflowRun.workflow_id)).all())
    found: list[Due] = []
    for workflow in session.exec(select(Workflow).where(Workflow.trigger == "schedule",
                                                        Workflow.status.in_(RUNNABLE_STATUS))):  # type: ignore[attr-defined]
        config = loads(workflow.trigger_config_json, {})
        since = _aware(workflow.created_at)
        if workflow.id in last_due and last_due[workflow.id] is not None:
            since = max(since, _aware(last_due[workflow.id]))
        due = latest_due(config["cron"], config.get("timezone", "UTC"), since, now)
        if due is not None:
            found.append(Due(workflow.id, due))
    return found


def upcoming(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Next due time of every schedule workflow (for `scheduler due` and the TUI)."""
    now = _aware(now or datetime.now(timezone.utc))
    rows = []
    for workflow in session.exec(select(Workflow).where(Workflow.trigger == "schedule")):
        config = loads(workflow.trigger_config_json, {})
        nxt = next_due(config["cron"], config.get("timezone", "UTC"), now)
        rows.append({"workflow_id": workflow.id, "name": workflow.name, "status": workflow.status,
                     "cron": config["cron"], "timezone": config.get("timezone", "UTC"),
                     "next_due": nxt.isoformat() if nxt else None})
    return rows


def tick(ws: Workspace, now: datetime | None = None, *, execute: bool = True,
         pool: ThreadPoolExecutor | None = None) -> TickResult:
    """Claim every due run; execute it inline, in ``pool``, or not at all (``execute=False``)."""
    now = _aware(now or datetime.now(timezone.utc))
    with ws.session() as session:
        stale = fail_stale_runs(session)
        dues = due_now(session, now)
    result = TickResult(now=now.isoformat(), failed_stale=stale)
    for due in dues:
        run_id = claim_run(ws, due.workflow_id, trigger="schedule", due_time=due.due_time)
        entry = {"workflow_id": due.workflow_id, "due_time": due.due_time.isoformat()}
        if run_id is None:
            result.skipped.append(entry)
            continue
        result.claimed.append({**entry, "run_id": run_id})
        if not execute:
            continue
        if pool is not None:
            pool.submit(_run_claimed, ws, due, run_id)
        else:
            outcome = _run_claimed(ws, due, run_id)
            result.results.append({"run_id": run_id, "status": outcome.status if outcome else "failed"})
    return result


def _run_claimed(ws: Workspace, due: Due, run_id: int) -> RunResult | None:
    try:
        return run_workflow(ws, due.workflow_id, trigger="schedule", due_time=due.due_time, run_id=run_id)
    except Exception:  # already recorded on the run by the executor; the scheduler keeps going
        return None


def check_interval(interval_s: object) -> float:
    """Seconds between scheduler ticks, from MIN_INTERVAL_S to MAX_INTERVAL_S, else a clear error."""
    ok = isinstance(interval_s, (int, float)) and not isinstance(interval_s, bool) and math.isfinite(interval_s)
    if not ok or not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:  # type: ignore[operator]
        raise LightdomError(f"scheduler interval: {interval_s!r} must be from {MIN_INTERVAL_S:g} to "
                            f"{MAX_INTERVAL_S:g} seconds")
    return float(interval_s)  # type: ignore[arg-type]


def run_scheduler(ws: Workspace, *, interval_s: float = 30.0, stop_event: threading.Event | None = None,
                  max_parallel: int = 2, max_ticks: int | None = None) -> int:
    """Tick every ``interval_s`` until ``stop_event`` is set (or ``max_ticks``); returns runs claimed."""
    interval_s = check_interval(interval_s)
    stop_event = stop_event or threading.Event()
    claimed = 0
    ticks = 0
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="scheduler") as pool:
        while not stop_event.is_set():
            claimed += len(tick(ws, pool=pool).claimed)
            check_deployments(ws)  # the long-running process also watches the alert thresholds
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            stop_event.wait(interval_s)
    return claimed
