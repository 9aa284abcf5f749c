"""Registry use cases: versions, aliases, export, deploy, A/B tests, alerts, evaluation.

Models are named the same way everywhere: ``run:ID`` (a training run's adapter), a
version name, or an alias; a bare number is a version id unless it could also be
a run, in which case it is refused with both candidates named
(``registry.versions.find_version``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.usecases.options import split_list
from lightdom_tui.workspace import Workspace

DEFAULT_ROLLBACK_REASON = "manual rollback"


def list_models(ws: Workspace) -> list[Any]:
    """Every version with its aliases and deployments (``ModelSummary`` rows)."""
    from lightdom_tui.registry.catalog import list_models as rows

    with ws.session() as session:
        return rows(session)


def show_model(ws: Workspace, ref: str) -> Any:
    """One version with its lineage, evaluations and children (``ModelDetail``)."""
    from lightdom_tui.registry.catalog import show_model as detail

    with ws.session() as session:
        return detail(session, ref)


def add_base(ws: Workspace, path: Path, name: str | None = None) -> Any:
    """Register a local HF folder or GGUF file as a base model."""
    from lightdom_tui.registry.catalog import add_base as add

    return add(ws, path, name=name)


def delete_model(ws: Workspace, ref: str, *, keep_files: bool = False) -> Any:
    """Delete a version nothing uses (and its files unless ``keep_files``)."""
    from lightdom_tui.registry.catalog import delete_model as delete

    return delete(ws, ref, remove_files=not keep_files)


@dataclass(frozen=True)
class ExportRequest:
    """Which model to export (``run:ID``, version or alias), the quantization, and how.

    ``keep_merged`` also writes and registers the merged HF folder (the CLI's ``--keep-merged``);
    ``device`` is where the LoRA merge runs (``cpu`` or ``cuda``).
    """

    ref: str
    quant: str = "q4_k_m"
    keep_merged: bool = False
    device: str = "cpu"


def check_export(request: ExportRequest) -> None:
    """Refuse an unknown quantization or device before any work (a face checks before drawing progress)."""
    from lightdom_tui.modelio.pipeline import check_device
    from lightdom_tui.modelio.quantize import ftype_for

    ftype_for((request.quant or "").strip().lower() or "q4_k_m")
    check_device(request.device)


def export_model(ws: Workspace, request: ExportRequest, progress: Callable[[str, float], None] | None = None) -> Any:
    """Merge (adapters) → GGUF → quantize → verify; registers the new version (``ExportResult``)."""
    from lightdom_tui.modelio.pipeline import export_model as export

    return export(ws, request.ref.strip(), quant=(request.quant or "").strip() or "q4_k_m", progress=progress,
                  keep_merged=request.keep_merged, device=request.device)


@dataclass(frozen=True)
class AliasMoveRequest:
    """Point ``alias`` at ``ref`` (promote) or back at its previous holder (``ref`` None: rollback)."""

    alias: str = "production"
    ref: str | None = None
    reason: str | None = None


def promote(ws: Workspace, request: AliasMoveRequest) -> Any:
    """Move an alias to a version, atomically; the history keeps the previous holder and the reason."""
    from lightdom_tui.registry.aliases import promote as move

    if not request.ref:
        raise LightdomError("promote: name the version to promote")
    return move(ws, request.ref, (request.alias or "").strip() or "production", reason=request.reason or None)


def rollback_alias(ws: Workspace, request: AliasMoveRequest) -> Any:
    """Return an alias to its previous holder; the history records why (``manual rollback`` by default)."""
    from lightdom_tui.registry.aliases import rollback

    return rollback(ws, (request.alias or "").strip() or "production",
                    reason=(request.reason or "").strip() or DEFAULT_ROLLBACK_REASON)


def alias_history(ws: Workspace, alias: str | None = None, limit: int = 50) -> list[Any]:
    """Alias moves, newest first."""
    from lightdom_tui.registry.aliases import alias_history as history

    with ws.session() as session:
        return history(session, alias, limit)


# --------------------------------------------------------------------------- deploy


HEALTH_CHECKS = ("canary", "load", "none")


@dataclass(frozen=True)
class DeployRequest:
    """Deploy (or widen) a version for some task types (comma-separated text or a list)."""

    ref: str
    task_types: Any = None
    stage: str | None = None
    health: str = "canary"
    auto_rollback: bool | None = None
    widen: bool = False


def _task_types(value: Any) -> list[str] | None:
    types = split_list(value) if isinstance(value, str) or value is None else list(value)
    return types or None


def deploy(ws: Workspace, request: DeployRequest) -> Any:
    """Health-check then deploy (or widen a staged rollout of) a version (``DeployResult``)."""
    from lightdom_tui.registry import deploy as dep

    checks = {"canary": dep.canary_health_check, "load": dep.load_health_check, "none": dep.skip_health_check}
    if request.health not in checks:
        raise LightdomError(f"--health {request.health}: expected canary, load or none")
    if request.widen:
        return dep.widen(ws, request.ref, _task_types(request.task_types),
                         health_check=None if request.health == "canary" else checks[request.health])
    return dep.deploy(ws, request.ref, _task_types(request.task_types), request.stage,
                      health_check=checks[request.health], auto_rollback=request.auto_rollback)


@dataclass(frozen=True)
class DeployRollbackRequest:
    """Restore the previous deployment of one task type (None: the latest rollout) and say why."""

    task_type: str | None = None
    reason: str | None = None


def rollback_deployment(ws: Workspace, request: DeployRollbackRequest) -> Any:
    """Restore the previous deployment(s) in one transaction; the reason is recorded."""
    from lightdom_tui.registry.deploy import rollback

    return rollback(ws, (request.task_type or "").strip() or None,
                    reason=(request.reason or "").strip() or DEFAULT_ROLLBACK_REASON)


def deploy_status(ws: Workspace) -> Any:
    """What serves now, each rollout's stage and the recent history."""
    from lightdom_tui.registry.deploy import deploy_status as status

    return status(ws)


@dataclass
class AlertsResult:
    """Open (or all) alerts; with a check, the metrics, new alerts and rollbacks it caused."""

    alerts: list[Any]
    metrics: list[Any] = field(default_factory=list)
    new_alerts: list[Any] = field(default_factory=list)
    rolled_back: list[Any] = field(default_factory=list)
    acknowledged: int | None = None


def alerts(ws: Workspace, *, check: bool = False, ack: bool = False, include_acknowledged: bool = False,
           auto_rollback: bool | None = None) -> AlertsResult:
    """Optionally check deployments and acknowledge alerts; then the alert list."""
    from lightdom_tui.registry import monitoring

    result = AlertsResult(alerts=[])
    if check:
        checked = monitoring.check_deployments(ws, auto_rollback=auto_rollback)
        result.metrics, result.new_alerts, result.rolled_back = checked.metrics, checked.new_alerts, checked.rolled_back
    if ack:
        result.acknowledged = monitoring.acknowledge_alerts(ws)
    with ws.session() as session:
        result.alerts = monitoring.list_alerts(session, include_acknowledged=include_acknowledged)
    return result


@dataclass
class RegistryOps:
    """The registry pane's side panel: deployments, running A/B tests with reports, open alerts."""

    status: Any
    tests: list[Any]
    reports: dict[int, Any]
    alerts: list[Any]


def registry_ops(ws: Workspace) -> RegistryOps:
    """Deployments, A/B tests (reports of the running ones) and open alerts, read together."""
    from lightdom_tui.registry import ab, monitoring

    status = deploy_status(ws)
    with ws.session() as session:
        tests = ab.list_ab_tests(session)
        reports = {t.id: ab.ab_report(session, t.id) for t in tests if t.status == "running"}
        open_alerts = monitoring.list_alerts(session)
    return RegistryOps(status, tests, reports, open_alerts)


# --------------------------------------------------------------------------- A/B tests


@dataclass(frozen=True)
class ABTestRequest:
    """A/B test of ``a`` (incumbent) against ``b``; ``split`` is b's share (text or float)."""

    a: str
    b: str
    split: Any = 0.5
    task_types: Any = None
    name: str | None = None
    alias: str = "production"


def create_ab_test(ws: Workspace, request: ABTestRequest) -> Any:
    """Start an A/B test; the router splits matching requests by a hash of their key."""
    from lightdom_tui.registry.ab import create_ab_test as create

    try:
        split = float(request.split if request.split not in (None, "") else 0.5)
    except (TypeError, ValueError):
        raise LightdomError(f"split: {request.split!r} is not a number") from None
    return create(ws, request.a, request.b, split=split, task_types=_task_types(request.task_types) or [],
                  name=request.name or None, alias=request.alias)


def list_ab_tests(ws: Workspace) -> list[Any]:
    """A/B tests, newest first."""
    from lightdom_tui.registry.ab import list_ab_tests as tests

    with ws.session() as session:
        return tests(session)


def ab_report(ws: Workspace, test: str, signals: str | None = None) -> Any:
    """Per-arm success with CIs, the z-test and a recommendation."""
    from lightdom_tui.registry.ab import ab_report as report

    with ws.session() as session:
        return report(session, test, signals=split_list(signals) or None)


@dataclass(frozen=True)
class OutcomeRequest:
    """An external outcome for one arm of a test."""

    test: str
    arm: str
    success: bool
    signal: str = "external"
    latency_ms: float | None = None
    request_key: str | None = None


def record_ab_outcome(ws: Workspace, request: OutcomeRequest) -> dict[str, Any]:
    """Record one outcome in one write transaction."""
    from lightdom_tui.db.access import write_session
    from lightdom_tui.registry.ab import get_ab_test, record_outcome

    with write_session(ws) as session:
        found = get_ab_test(session, request.test)
        outcome = record_outcome(session, found.id, request.arm, signal=request.signal, success=request.success,
                                 latency_ms=request.latency_ms, request_key=request.request_key)
        return {"id": outcome.id, "ab_test_id": found.id, "arm": request.arm, "signal": request.signal,
                "success": request.success}


def promote_ab(ws: Workspace, test: str, *, arm: str | None = None, alias: str | None = None) -> Any:
    """End a test and move its alias to the winner."""
    from lightdom_tui.registry.ab import promote_ab as promote_winner

    return promote_winner(ws, test, arm=arm, alias=alias)


def end_ab_test(ws: Workspace, test: str) -> Any:
    """End a test without promoting anything."""
    from lightdom_tui.registry.ab import end_ab_test as end

    return end(ws, test)


# --------------------------------------------------------------------------- evaluation and simulation


@dataclass(frozen=True)
class EvaluationRequest:
    """Evaluate ``ref`` on a references file or a dataset's validation split."""

    ref: str
    dataset: str | None = None
    references: Path | None = None
    task_type: str = "attribute_generation"
    limit: int | None = None


def evaluate(ws: Workspace, request: EvaluationRequest) -> Any:
    """Score a version and record the evaluation (``EvaluationResult``)."""
    from lightdom_tui.registry.evaluation import evaluate as run

    dataset = (request.dataset or "").strip() or None
    return run(ws, request.ref, dataset=dataset, references=request.references, task_type=request.task_type,
               limit=request.limit)


def compare(ws: Workspace, a: str, b: str, task_type: str = "attribute_generation") -> Any:
    """The latest evaluations of two versions side by side."""
    from lightdom_tui.registry.evaluation import compare as table

    with ws.session() as session:
        return table(session, a, b, task_type=task_type)


def simulate(ws: Workspace, ref: str, *, dataset: str | None = None, limit: int = 50,
             min_confidence: float | None = None, min_quality: float = 0.5) -> Any:
    """Replay logged (or a dataset's) prompts through a candidate; nothing live is touched."""
    from lightdom_tui.curation.rules import AutoRules
    from lightdom_tui.registry.simulate import simulate as run

    return run(ws, ref, dataset=dataset, limit=limit,
               rules=AutoRules(min_confidence=min_confidence, min_quality=min_quality))
