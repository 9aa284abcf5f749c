"""Continuous training: a policy that proposes (or with ``--auto`` runs) the next round.

Policy (``settings.continuous``): a round is due when at least ``min_new_approved``
approved examples are not yet in the dataset of the last completed training run, or when the
acceptance rate of recent attribute suggestions fell below ``min_acceptance_rate``.

A round: new dataset version → training run → GGUF export → evaluation on the
dataset's validation split → ``staging`` alias (never production: promotion stays a
human decision, or an A/B test's). Training runs as a child ``lightdom train --json``
process: the registry never imports the training stack (edge boxes have none), and
the trainer's memory is returned to the system when it ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

DATASET_NAME = "continuous"
EVAL_LIMIT = 20  # validation items generated per round: enough to compare, bounded in time
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


@dataclass
class RoundResult:
    """What ``continuous run`` did: nothing, a proposal, or the steps it ran."""

    action: str  # none / proposed / completed / failed
    message: str
    policy: PolicyCheck
    steps: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None


def _plan() -> list[dict[str, Any]]:
    return [{"step": s, "status": "planned"} for s in ("dataset", "train", "export", "evaluate", "stage")]


def _train_child(workspace: Workspace, dataset: str, max_steps: int | None, method: str | None) -> dict[str, Any]:
    """``lightdom train --json`` as a child process; its one JSON object, or an error naming the failure."""
    command = [sys.executable, "-m", "lightdom_tui.cli", "--home", str(workspace.root), "train",
               "--dataset", dataset, "--json"]
    if max_steps:
        command += ["--max-steps", str(max_steps)]
    if method:
        command += ["--method", method]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LightdomError(f"training failed (exit {done.returncode}): {last}")
    return json.loads(done.stdout)


def run_round(
    workspace: Workspace, *, auto: bool = False, force: bool = False, max_steps: int | None = None,
    quant: str = "q4_k_m", method: str | None = None,
) -> RoundResult:
    """Check the policy; propose the round, or (``auto``) run dataset → train → export → eval → staging."""
    from lightdom_tui.registry.aliases import promote
    from lightdom_tui.registry.evaluation import evaluate

    with workspace.session() as session:
        policy = check_policy(workspace, session)
    if not policy.due and not force:
        return RoundResult("none", "policy not met: " + (f"{policy.new_approved}/{policy.min_new_approved} new "
                           "approved examples"), policy)
    auto = auto or workspace.settings.continuous.auto
    why = "; ".join(policy.reasons) or "forced"
    if not auto:
        return RoundResult("proposed", f"round due ({why}); run `lightdom continuous run --auto` to start it",
                           policy, _plan())
    steps: list[dict[str, Any]] = []

    def step(name: str, status: str, detail: str = "") -> None:
        steps.append({"step": name, "status": status, "detail": detail})

    try:
        from lightdom_tui.curation.datasets import build_dataset  # lazy: curation service

        dataset = build_dataset(workspace, DATASET_NAME)
        ref = f"{dataset.name}@{dataset.version}"
        step("dataset", "done", f"{ref}: {dataset.n_train} train / {dataset.n_validation} validation")
        trained = _train_child(workspace, ref, max_steps, method)
        if trained.get("status") != "completed" or not trained.get("adapter_version"):
            raise LightdomError(f"training run {trained.get('run_id')} ended {trained.get('status')}")
        step("train", "done", f"run #{trained['run_id']} → {trained['adapter_version']}")
        from lightdom_tui.modelio.pipeline import export_model  # lazy: merge/convert stack

        exported = export_model(workspace, trained["adapter_version"], quant)
        step("export", "done", f"{exported.version} ({exported.quant}, {exported.size} bytes)")
        if dataset.n_validation:
            result = evaluate(workspace, exported.version, dataset=ref, limit=EVAL_LIMIT)
            step("evaluate", "done", f"f1 {result.metrics.get('f1')}, validity {result.metrics.get('json_validity')}")
        else:
            step("evaluate", "skipped", "the dataset has no validation split")
        promote(workspace, exported.version, STAGING_ALIAS, reason=f"continuous round ({why})")
        step("stage", "done", f"{STAGING_ALIAS} → {exported.version}")
    except Exception as exc:  # report which step broke; the earlier steps' results stay recorded
        message = str(exc) if isinstance(exc, LightdomError) else f"{type(exc).__name__}: {exc}"
        step(["dataset", "train", "export", "evaluate", "stage"][len(steps)], "failed", message)
        return RoundResult("failed", message, policy, steps)
    return RoundResult("completed", f"{exported.version} is on {STAGING_ALIAS}; A/B test or promote it when ready",
                       policy, steps, exported.version)
