"""Rolling metrics per deployment, threshold alerts, optional auto-rollback.

Metrics come from the last ``settings.monitoring.window`` requests a deployment
served (``RequestLog``) and the accept/edit/reject decisions on the attribute
suggestions those requests produced (``AttributeSuggestion``). An alert fires when a
metric is strictly greater than its threshold (defaults: error rate > 0.05, latency
p95 > 2000 ms, confidence drop > 0.1 against the previous deployment, rejection rate
> 0.20). A small tolerance keeps float noise (0.8 − 0.7 = 0.10000000000000009) from
firing exactly at a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from lightdom_tui.db.models import Alert, AttributeSuggestion, Deployment, ModelVersion, RequestLog
from lightdom_tui.registry.stats import percentile
from lightdom_tui.db.access import write_session
from lightdom_tui.workspace import Workspace

EPSILON = 1e-9
MIN_REQUESTS = 10  # fewer requests than this give no alerts: one error in three is not a trend
DECIDED = ("accepted", "edited", "rejected")


def breaches(value: float | None, threshold: float) -> bool:
    """True when ``value`` is strictly above ``threshold`` (beyond float noise)."""
    return value is not None and value - threshold > EPSILON


@dataclass
class DeploymentMetrics:
    """Rolling metrics of one deployment."""

    deployment_id: int
    task_type: str
    version: str
    requests: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    fallback_rate: float | None
    confidence: float | None
    baseline_confidence: float | None
    confidence_drop: float | None
    decided: int
    rejection_rate: float | None
    acceptance_rate: float | None


def _window(session: Session, deployment_id: int, window: int) -> list[RequestLog]:
    return list(
        session.exec(
            select(RequestLog)
            .where(RequestLog.deployment_id == deployment_id)
            .order_by(col(RequestLog.id).desc())
            .limit(window)
        ).all()
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def deployment_metrics(session: Session, deployment: Deployment, window: int = 100) -> DeploymentMetrics:
    """Metrics over the deployment's last ``window`` requests."""
    logs = _window(session, deployment.id, window)
    n = len(logs)
    confidences = [r.confidence for r in logs if r.confidence is not None]
    confidence = _mean(confidences)
    baseline = None
    if deployment.previous_deployment_id is not None:
        previous = _window(session, deployment.previous_deployment_id, window)
        baseline = _mean([r.confidence for r in previous if r.confidence is not None])
    ids = [r.id for r in logs]
    statuses = (
        list(
            session.exec(
                select(AttributeSuggestion.status).where(
                    col(AttributeSuggestion.request_log_id).in_(ids), col(AttributeSuggestion.status).in_(DECIDED)
                )
            ).all()
        )
        if ids
        else []
    )
    rejected = sum(1 for s in statuses if s == "rejected")
    version = session.get(ModelVersion, deployment.version_id)
    return DeploymentMetrics(
        deployment_id=deployment.id,
        task_type=deployment.task_type,
        version=version.version if version else "?",
        requests=n,
        error_rate=sum(1 for r in logs if not r.success) / n if n else None,
        latency_p50_ms=percentile([r.latency_ms for r in logs], 50),
        latency_p95_ms=percentile([r.latency_ms for r in logs], 95),
        fallback_rate=sum(1 for r in logs if r.fallback) / n if n else None,
        confidence=confidence,
        baseline_confidence=baseline,
        confidence_drop=baseline - confidence if baseline is not None and confidence is not None else None,
        decided=len(statuses),
        rejection_rate=rejected / len(statuses) if statuses else None,
        acceptance_rate=(len(statuses) - rejected) / len(statuses) if statuses else None,
    )


@dataclass
class AlertInfo:
    """An alert row, readable."""

    id: int
    created_at: datetime
    deployment_id: int | None
    metric: str
    value: float
    threshold: float
    message: str
    acknowledged: bool
    action: str | None


@dataclass
class MonitorResult:
    """One monitoring pass: metrics per active deployment and the alerts it raised."""

    metrics: list[DeploymentMetrics]
    new_alerts: list[AlertInfo] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)


def _alert_info(row: Alert) -> AlertInfo:
    return AlertInfo(row.id, row.created_at, row.deployment_id, row.metric, row.value, row.threshold,
                     row.message, row.acknowledged, row.action)


def threshold_breaches(workspace: Workspace, m: DeploymentMetrics,
                       min_requests: int = MIN_REQUESTS) -> list[tuple[str, float, float, str]]:
    """(metric, value, threshold, message) for each threshold the metrics exceed."""
    if m.requests < min_requests:
        return []
    t = workspace.settings.monitoring
    checks = [
        ("error_rate", m.error_rate, t.error_rate, "error rate {v:.1%} > {t:.1%}"),
        ("latency_p95_ms", m.latency_p95_ms, t.latency_ms, "latency p95 {v:.0f} ms > {t:.0f} ms"),
        ("confidence_drop", m.confidence_drop, t.confidence_drop, "confidence dropped by {v:.3f} > {t:.3f}"),
        ("rejection_rate", m.rejection_rate, t.rejection_rate, "rejection rate {v:.1%} > {t:.1%}"),
    ]
    return [
        (metric, value, threshold, f"{m.version} ({m.task_type}): " + text.format(v=value, t=threshold))
        for metric, value, threshold, text in checks
        if breaches(value, threshold)
    ]


def check_deployments(
    workspace: Workspace,
    *,
    auto_rollback: bool | None = None,
    min_requests: int = MIN_REQUESTS,
) -> MonitorResult:
    """Compute metrics for every active deployment, store alerts for breaches, maybe roll back.

    An unacknowledged alert for the same deployment and metric is not repeated.
    Auto-rollback applies when ``auto_rollback`` is true, or (when None) when the
    deployment or ``settings.monitoring.auto_rollback`` asks for it.
    """
    from lightdom_tui.registry.deploy import rollback_in_session

    window = workspace.settings.monitoring.window
    result = MonitorResult(metrics=[])
    with write_session(workspace) as session:
        active = session.exec(select(Deployment).where(Deployment.status == "active")).all()
        for deployment in active:
            metrics = deployment_metrics(session, deployment, window)
            result.metrics.append(metrics)
            found = threshold_breaches(workspace, metrics, min_requests)
            if not found:
                continue
            open_metrics = set(
                session.exec(
                    select(Alert.metric).where(Alert.deployment_id == deployment.id, Alert.acknowledged == False)  # noqa: E712
                ).all()
            )
            wants_rollback = (
                auto_rollback
                if auto_rollback is not None
                else deployment.auto_rollback or workspace.settings.monitoring.auto_rollback
            )
            action = None
            if wants_rollback and deployment.status == "active":
                rollback_in_session(session, deployment.task_type, reason=found[0][3])
                action = "auto_rollback"
                result.rolled_back.append(f"{metrics.version} ({deployment.task_type})")
            for metric, value, threshold, message in found:
                if metric in open_metrics and action is None:
                    continue
                row = Alert(deployment_id=deployment.id, metric=metric, value=value, threshold=threshold,
                            message=message, action=action)
                session.add(row)
                session.flush()
                result.new_alerts.append(_alert_info(row))
    return result


def list_alerts(session: Session, *, include_acknowledged: bool = False, limit: int = 50) -> list[AlertInfo]:
    """Alerts, newest first."""
    query = select(Alert).order_by(col(Alert.id).desc()).limit(limit)
    if not include_acknowledged:
        query = query.where(Alert.acknowledged == False)  # noqa: E712
    return [_alert_info(r) for r in session.exec(query).all()]


def acknowledge_alerts(workspace: Workspace, ids: list[int] | None = None) -> int:
    """Mark alerts (all open ones when ``ids`` is None) as acknowledged; returns how many."""
    with write_session(workspace) as session:
        query = select(Alert).where(Alert.acknowledged == False)  # noqa: E712
        if ids:
            query = query.where(col(Alert.id).in_(ids))
        rows = session.exec(query).all()
        for row in rows:
            row.acknowledged = True
            session.add(row)
        return len(rows)
