"""Staged deployment per task type: health-checked deploy, widen, status, fast rollback.

A deployment row says which version serves one task type (``"*"`` = every task type
without its own). Deploying runs a health check first (the model loads; each canary
topic of ``settings.deploy.canary_topics`` gives valid attributes within
``settings.deploy.health_latency_ms``); a failed check records a ``failed`` row and
leaves the serving deployment untouched. Rollout stages follow
``settings.deploy.stages`` (default low → medium → high risk): start with the
low-risk task types, ``widen`` to more, and the last stage without named task types
covers ``"*"``. Rollback is a pure database switch (the local engine pool loads the
restored version lazily on its next request), so it completes in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Deployment, ModelVersion, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry.routing import ALL_TASK_TYPES, active_deployment
from lightdom_tui.db.access import write_session
from lightdom_tui.registry.versions import get_version
from lightdom_tui.workspace import Workspace


@dataclass
class CanaryCheck:
    """One canary prompt of a health check."""

    topic: str
    ok: bool
    latency_ms: float
    n_attributes: int = 0
    engine: str | None = None
    error: str | None = None


@dataclass
class HealthResult:
    """Outcome of a deploy health check."""

    ok: bool
    checks: list[CanaryCheck] = field(default_factory=list)
    error: str | None = None
    budget_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form stored in ``Deployment.health_json``."""
        return {
            "ok": self.ok,
            "error": self.error,
            "budget_ms": self.budget_ms,
            "checks": [c.__dict__ for c in self.checks],
        }


HealthCheck = Callable[[Workspace, ModelVersion], HealthResult]


def _load_check(workspace: Workspace, version: ModelVersion) -> CanaryCheck:
    """Load a GGUF version into the serving engine pool (warming it for its first request)."""
    from pathlib import Path

    started = time.perf_counter()
    path = Path(version.path)
    if not path.exists():
        return CanaryCheck("load", False, 0.0, error=f"{path}: missing")
    if version.format != "gguf":
        return CanaryCheck("load", False, 0.0, error=f"{version.format} version: export it to GGUF to serve it locally")
    from lightdom_tui.inference.engine import engine_pool

    try:
        engine_pool(workspace.root, workspace.settings.serving).get(version.version, path)
    except Exception as exc:  # llama.cpp raises ValueError, the pool LightdomError: both mean "cannot load"
        return CanaryCheck("load", False, (time.perf_counter() - started) * 1000, error=str(exc))
    return CanaryCheck("load", True, (time.perf_counter() - started) * 1000, engine="local")


def load_health_check(workspace: Workspace, version: ModelVersion) -> HealthResult:
    """Only "the model loads": the GGUF is loaded into the serving engine pool."""
    check = _load_check(workspace, version)
    return HealthResult(ok=check.ok, checks=[check], error=check.error)


def canary_health_check(workspace: Workspace, version: ModelVersion) -> HealthResult:
    """The model loads, and each canary topic gives valid attributes from the version itself.

    Healthy = loaded into the engine pool, every canary gives a non-empty valid
    attribute list within ``settings.deploy.health_latency_ms``. Canaries call the
    inference core directly (``candidate.generate_attributes_for``): no response cache
    (a re-deploy must not pass on cached answers), no remote fallback, no request log.
    """
    from lightdom_tui.registry.candidate import generate_attributes_for

    budget = workspace.settings.deploy.health_latency_ms
    load = _load_check(workspace, version)
    if not load.ok:
        return HealthResult(ok=False, checks=[load], error=load.error, budget_ms=budget)
    checks: list[CanaryCheck] = [load]
    for topic in workspace.settings.deploy.canary_topics:
        generation = generate_attributes_for(workspace, version, topic, count=3)
        attributes = generation.check.attributes
        error = None
        if generation.error:
            error = generation.error
        elif not attributes:
            error = "no valid attributes: " + "; ".join(generation.check.errors[:2])
        elif generation.latency_ms > budget:
            error = f"latency {generation.latency_ms:.0f} ms over the {budget:.0f} ms budget"
        checks.append(CanaryCheck(topic, error is None, generation.latency_ms, len(attributes), generation.engine,
                                  error))
    if len(checks) == 1:
        missing = "no canary topics configured (settings deploy.canary_topics)"
        return HealthResult(ok=False, checks=checks, error=missing, budget_ms=budget)
    failed = [c for c in checks if not c.ok]
    return HealthResult(ok=not failed, checks=checks, error=failed[0].error if failed else None, budget_ms=budget)


def skip_health_check(workspace: Workspace, version: ModelVersion) -> HealthResult:
    """A health check that only confirms the file exists (for ``deploy --no-health-check``)."""
    from pathlib import Path

    exists = Path(version.path).exists()
    return HealthResult(ok=exists, error=None if exists else f"{version.path}: missing", budget_ms=None)


@dataclass
class DeploymentInfo:
    """One deployment row, readable."""

    id: int
    task_type: str
    version: str
    stage: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    previous_deployment_id: int | None
    health: dict[str, Any]
    auto_rollback: bool


@dataclass
class DeployResult:
    """What ``deploy`` / ``deploy widen`` did."""

    ok: bool
    version: str
    stage: str
    task_types: list[str]
    deployments: list[DeploymentInfo]
    health: dict[str, Any]
    message: str


def _info(session: Session, row: Deployment) -> DeploymentInfo:
    version = session.get(ModelVersion, row.version_id)
    return DeploymentInfo(
        id=row.id,
        task_type=row.task_type,
        version=version.version if version else "?",
        stage=row.stage,
        status=row.status,
        created_at=row.created_at,
        ended_at=row.ended_at,
        previous_deployment_id=row.previous_deployment_id,
        health=loads(row.health_json, {}),
        auto_rollback=row.auto_rollback,
    )


def _stages(workspace: Workspace) -> list[str]:
    stages = list(workspace.settings.deploy.stages)
    if not stages:
        raise LightdomError("settings deploy.stages: empty; list at least one stage, e.g. [\"low\"]")
    return stages


def _clean_task_types(task_types: list[str] | None) -> list[str]:
    cleaned = sorted({t.strip() for t in (task_types or []) if t and t.strip()})
    return cleaned or [ALL_TASK_TYPES]


def deploy(
    workspace: Workspace,
    ref: str | int,
    task_types: list[str] | None = None,
    stage: str | None = None,
    *,
    health_check: HealthCheck | None = canary_health_check,
    auto_rollback: bool | None = None,
) -> DeployResult:
    """Health-check ``ref`` and make it serve ``task_types`` (default ``*``) at ``stage``.

    A failed check records ``failed`` rows and keeps the current deployments serving.
    """
    stages = _stages(workspace)
    stage = stage or stages[0]
    if stage not in stages:
        raise LightdomError(f"--stage {stage}: not one of the configured stages {', '.join(stages)}")
    task_types = _clean_task_types(task_types)
    with workspace.session() as session:
        version = get_version(session, ref)
    health = (health_check or skip_health_check)(workspace, version)
    auto = workspace.settings.monitoring.auto_rollback if auto_rollback is None else auto_rollback
    rows: list[Deployment] = []
    with write_session(workspace) as session:
        if session.get(ModelVersion, version.id) is None:
            raise LightdomError(f"model '{version.version}': deleted while being health-checked")
        for task_type in task_types:
            current = active_deployment(session, task_type)
            if health.ok and current is not None and current.version_id == version.id:
                rows.append(current)  # already serving this task type: nothing to switch
                continue
            row = Deployment(
                task_type=task_type,
                version_id=version.id,
                stage=stage,
                status="active" if health.ok else "failed",
                previous_deployment_id=current.id if current else None,
                health_json=dumps(health.to_dict()),
                auto_rollback=auto,
                ended_at=None if health.ok else utcnow(),
            )
            if health.ok and current is not None:
                current.status, current.ended_at = "superseded", utcnow()
                session.add(current)
                session.flush()  # the old row leaves "active" before the new one arrives
            session.add(row)
            rows.append(row)
        session.flush()
        infos = [_info(session, r) for r in rows]
    message = (
        f"{version.version} serves {', '.join(task_types)} at stage {stage}"
        if health.ok
        else f"health check failed ({health.error}); previous deployments keep serving"
    )
    return DeployResult(health.ok, version.version, stage, task_types, infos, health.to_dict(), message)


def widen(
    workspace: Workspace,
    ref: str | int,
    task_types: list[str] | None = None,
    *,
    health_check: HealthCheck | None = None,
) -> DeployResult:
    """Advance ``ref``'s rollout to the next stage, adding ``task_types`` (``*`` at the last stage).

    The version already passed a health check when first deployed; pass
    ``health_check`` to run one again.
    """
    stages = _stages(workspace)
    with workspace.session() as session:
        version = get_version(session, ref)
        active = session.exec(
            select(Deployment).where(Deployment.version_id == version.id, Deployment.status == "active")
        ).all()
        if not active:
            raise LightdomError(f"model '{version.version}': not deployed; run `lightdom deploy {version.version}` first")
        current = max((stages.index(d.stage) if d.stage in stages else 0) for d in active)
        reused = active[-1].health_json
    if current + 1 >= len(stages):
        raise LightdomError(f"model '{version.version}': already at the last stage '{stages[current]}'")
    next_stage = stages[current + 1]
    if not task_types:
        if current + 2 < len(stages):
            raise LightdomError(f"--task-types: name the task types for stage '{next_stage}'")
        task_types = [ALL_TASK_TYPES]

    def reuse(_ws: Workspace, _v: ModelVersion) -> HealthResult:
        data = loads(reused, {})
        return HealthResult(ok=True, error=None, budget_ms=data.get("budget_ms"))

    return deploy(workspace, version.id, task_types, next_stage, health_check=health_check or reuse)


@dataclass
class RollbackResult:
    """What ``deploy rollback`` switched, and how long the switch took."""

    rolled_back: list[DeploymentInfo]
    restored: list[DeploymentInfo]
    elapsed_ms: float
    message: str


def rollback_in_session(session: Session, task_type: str | None = None, *, reason: str | None = None) -> tuple[
    list[Deployment], list[Deployment]
]:
    """Roll back inside the caller's write transaction; returns (rolled back, restored) rows.

    With ``task_type``, only that task type's active deployment; otherwise every active
    deployment of the most recently deployed version (a whole staged rollout).
    """
    if task_type is not None:
        current = active_deployment(session, task_type)
        if current is None:
            raise LightdomError(f"--task-type {task_type}: no active deployment to roll back")
        targets = [current]
    else:
        latest = session.exec(
            select(Deployment).where(Deployment.status == "active").order_by(col(Deployment.id).desc())
        ).first()
        if latest is None:
            raise LightdomError("no active deployment to roll back")
        targets = list(
            session.exec(
                select(Deployment).where(
                    Deployment.status == "active", Deployment.version_id == latest.version_id
                )
            ).all()
        )
    restored: list[Deployment] = []
    now = utcnow()
    for row in targets:
        row.status, row.ended_at = "rolled_back", now
        if reason:
            health = loads(row.health_json, {})
            health["rollback_reason"] = reason
            row.health_json = dumps(health)
        session.add(row)
        session.flush()
        previous = session.get(Deployment, row.previous_deployment_id) if row.previous_deployment_id else None
        if previous is not None and previous.status == "superseded" and active_deployment(
            session, previous.task_type
        ) is None:
            previous.status, previous.ended_at = "active", None
            session.add(previous)
            restored.append(previous)
    session.flush()
    return targets, restored


def rollback(workspace: Workspace, task_type: str | None = None, *, reason: str | None = None) -> RollbackResult:
    """Restore the previous deployment(s) in one transaction (no model loading: milliseconds)."""
    started = time.perf_counter()
    with write_session(workspace) as session:
        rolled, restored = rollback_in_session(session, task_type, reason=reason)
        rolled_info = [_info(session, r) for r in rolled]
        restored_info = [_info(session, r) for r in restored]
    elapsed = (time.perf_counter() - started) * 1000
    back = ", ".join(f"{r.task_type}→{r.version}" for r in restored_info) or "nothing (routing falls back)"
    return RollbackResult(rolled_info, restored_info, elapsed, f"rolled back {len(rolled_info)}; restored {back}")


@dataclass
class DeployStatus:
    """What serves now and the recent history."""

    active: list[DeploymentInfo]
    rollouts: dict[str, str]  # version → furthest stage reached
    stages: list[str]
    history: list[DeploymentInfo]


def deploy_status(workspace: Workspace, *, history: int = 10) -> DeployStatus:
    """Active deployments per task type, each version's rollout stage, recent history."""
    stages = _stages(workspace)
    with workspace.session() as session:
        active = session.exec(
            select(Deployment).where(Deployment.status == "active").order_by(col(Deployment.task_type))
        ).all()
        recent = session.exec(select(Deployment).order_by(col(Deployment.id).desc()).limit(history)).all()
        active_info = [_info(session, r) for r in active]
        recent_info = [_info(session, r) for r in recent]
    rollouts: dict[str, str] = {}
    for info in active_info:
        best = rollouts.get(info.version)
        rank = stages.index(info.stage) if info.stage in stages else 0
        if best is None or rank > stages.index(best):
            rollouts[info.version] = stages[rank]
    return DeployStatus(active_info, rollouts, stages, recent_info)
