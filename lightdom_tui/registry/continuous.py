"""Continuous training: a policy that proposes (or with ``--auto`` runs) the next round.

Policy (``settings.continuous``): a round is due when at least ``min_new_approved``
approved examples are not yet in the dataset of the last completed training run, or when the
acceptance rate of recent attribute suggestions fell below ``min_acceptance_rate``.

This module is the registry's part: the policy and where the loop stands. The round
itself (new dataset version → training run → GGUF export → evaluation on the dataset's
validation split → ``staging`` alias, never production) is the loop pipeline's
``usecases.loop.run_round``, which runs the same stages as ``lightdom demo`` and the
TUI, in process; the registry never imports the training stack (edge boxes have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from lightdom_tui.db.models import (
    AttributeSuggestion,
    DatasetItem,
    Deployment,
    Evaluation,
    Example,
    ModelVersion,
    TrainingRun,
)
from lightdom_tui.workspace import Workspace

STAGING_ALIAS = "staging"
DECIDED = ("accepted", "edited", "rejected")


@dataclass
class PolicyCheck:
    """The policy's inputs and verdict."""

    due: bool
    reasons: list[str]
    new_approved: int
    min_new_approved: int
    acceptance_rate: float | None
    min_acceptance_rate: float
    decided_suggestions: int
    last_run_id: int | None


@dataclass
class ContinuousStatus:
    """Where the loop stands: stage, one-line message and the facts behind it."""

    stage: str  # training / export pending / evaluation pending / staging pending / staged / ready / idle
    message: str
    policy: PolicyCheck
    facts: dict[str, Any] = field(default_factory=dict)


def _last_run(session: Session) -> TrainingRun | None:
    return session.exec(select(TrainingRun).order_by(col(TrainingRun.id).desc())).first()


def check_policy(workspace: Workspace, session: Session) -> PolicyCheck:
    """Count approved examples the last run did not see and the recent acceptance rate."""
    policy = workspace.settings.continuous
    last = session.exec(  # a failed or cancelled run taught the model nothing: count from the last good one
        select(TrainingRun)
        .where(TrainingRun.dataset_id.is_not(None), TrainingRun.status == "completed")
        .order_by(col(TrainingRun.id).desc())
    ).first()
    approved = select(func.count()).select_from(Example).where(Example.status == "approved")
    if last is not None:
        seen = select(DatasetItem.example_id).where(DatasetItem.dataset_id == last.dataset_id)
        approved = approved.where(col(Example.id).not_in(seen))
    new_approved = int(session.exec(approved).one())
    statuses = session.exec(
        select(AttributeSuggestion.status)
        .where(col(AttributeSuggestion.status).in_(DECIDED))
        .order_by(col(AttributeSuggestion.decided_at).desc(), col(AttributeSuggestion.id).desc())
        .limit(workspace.settings.monitoring.window)
    ).all()
    rate = sum(1 for s in statuses if s != "rejected") / len(statuses) if statuses else None
    reasons = []
    if new_approved >= policy.min_new_approved:
        reasons.append(f"{new_approved} new approved examples ≥ {policy.min_new_approved}")
    if rate is not None and rate < policy.min_acceptance_rate:
        reasons.append(f"acceptance rate {rate:.0%} < {policy.min_acceptance_rate:.0%} over {len(statuses)} decisions")
    return PolicyCheck(bool(reasons), reasons, new_approved, policy.min_new_approved, rate,
                       policy.min_acceptance_rate, len(statuses), last.id if last else None)


def _descendants(session: Session, run: TrainingRun) -> list[ModelVersion]:
    """Versions made by ``run`` and everything derived from them (merged, GGUF …)."""
    found = list(session.exec(select(ModelVersion).where(ModelVersion.run_id == run.id)).all())
    frontier = [v.id for v in found]
    while frontier:
        children = list(session.exec(select(ModelVersion).where(col(ModelVersion.parent_id).in_(frontier))).all())
        children = [c for c in children if c.id not in {v.id for v in found}]
        found += children
        frontier = [c.id for c in children]
    return found


def loop_status(workspace: Workspace) -> ContinuousStatus:
    """Where the loop stands: the latest run's progress through export, eval and staging, or the policy."""
    from lightdom_tui.registry.aliases import aliases_by_version

    with workspace.session() as session:
        policy = check_policy(workspace, session)
        run = _last_run(session)
        facts: dict[str, Any] = {"new_approved": policy.new_approved, "acceptance_rate": policy.acceptance_rate,
                                 "auto": workspace.settings.continuous.auto}
        if run is not None:
            facts["last_run"] = {"id": run.id, "status": run.status, "dataset_id": run.dataset_id}
        if run is not None and run.status in ("queued", "running"):
            return ContinuousStatus("training", f"run #{run.id} is {run.status}", policy, facts)
        if run is not None and run.status == "completed":
            versions = _descendants(session, run)
            ggufs = [v for v in versions if v.format == "gguf"]
            facts["versions"] = [v.version for v in versions]
            if not ggufs:
                return ContinuousStatus("export pending", f"run #{run.id} finished; export it: lightdom export "
                                        f"{versions[0].version if versions else run.id}", policy, facts)
            gguf = ggufs[-1]
            evaluated = session.exec(select(Evaluation.id).where(Evaluation.version_id == gguf.id)).first()
            if evaluated is None:
                return ContinuousStatus("evaluation pending", f"evaluate {gguf.version}: lightdom eval "
                                        f"{gguf.version} --dataset …", policy, facts)
            aliases = aliases_by_version(session).get(gguf.id, [])
            deployed = session.exec(
                select(Deployment).where(Deployment.version_id == gguf.id, Deployment.status == "active")
            ).all()
            facts["aliases"], facts["deployed_to"] = aliases, [d.task_type for d in deployed]
            if not aliases and not deployed:
                return ContinuousStatus("staging pending", f"{gguf.version} is evaluated; stage it: lightdom models "
                                        f"promote {gguf.version} --alias {STAGING_ALIAS}", policy, facts)
            if not policy.due:
                where = ", ".join(aliases + [f"deployed {d.task_type}@{d.stage}" for d in deployed])
                return ContinuousStatus("staged", f"{gguf.version}: {where}; next round when the policy is met",
                                        policy, facts)
    if policy.due:
        return ContinuousStatus("ready", "a new round is due: " + "; ".join(policy.reasons), policy, facts)
    return ContinuousStatus("idle", f"{policy.new_approved}/{policy.min_new_approved} new approved examples; "
                            "no round due", policy, facts)
