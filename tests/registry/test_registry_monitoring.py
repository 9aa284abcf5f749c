"""Alert thresholds fire strictly above the boundary; auto-rollback restores the previous version."""

from __future__ import annotations

import pytest
from sqlmodel import select

from lightdom_tui.db.models import (
    AttributeSuggestion,
    Deployment,
    RequestLog,
)
from lightdom_tui.registry import deploy as dep
from lightdom_tui.registry import monitoring
from lightdom_tui.registry.routing import choose_route


def _setup(workspace) -> tuple[int, int]:
    """v1 then v2 deployed for graphics; returns (previous deployment id, current id)."""
    old = dep.deploy(workspace, "v1", ["graphics"], health_check=dep.skip_health_check).deployments[0].id
    new = dep.deploy(workspace, "v2", ["graphics"], health_check=dep.skip_health_check).deployments[0].id
    return old, new


def _logs(workspace, deployment_id: int, n: int = 100, *, failures: int = 0, latency: float = 100.0,
          confidence: float | None = 0.8) -> list[int]:
    with workspace.session() as s:
        rows = [
            RequestLog(engine="local", deployment_id=deployment_id, latency_ms=latency, success=i >= failures,
                       confidence=confidence, task_type="graphics")
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _suggestions(workspace, stream: int, log_ids: list[int], rejected: int) -> None:
    with workspace.session() as s:
        for i, log_id in enumerate(log_ids):
            s.add(AttributeSuggestion(datastream_id=stream, topic="t", name=f"n{i}", request_log_id=log_id,
                                      status="rejected" if i < rejected else "accepted"))


def _alerts(workspace) -> list[str]:
    return sorted(a.metric for a in monitoring.check_deployments(workspace, auto_rollback=False).new_alerts)


def test_error_rate_boundary(workspace, versions):
    _, new = _setup(workspace)
    ids = _logs(workspace, new, failures=5)  # 5/100 = 0.05: not above
    assert _alerts(workspace) == []
    with workspace.session() as s:
        row = s.get(RequestLog, ids[-1])
        row.success = False  # 6/100
        s.add(row)
    assert _alerts(workspace) == ["error_rate"]
    assert _alerts(workspace) == []  # an open alert is not repeated


def test_latency_boundary(workspace, versions):
    _, new = _setup(workspace)
    ids = _logs(workspace, new, latency=2000.0)
    assert _alerts(workspace) == []
    with workspace.session() as s:
        for log_id in ids[:10]:
            row = s.get(RequestLog, log_id)
            row.latency_ms = 2001.0  # p95 interpolates between 2000 and 2001: 2000.05
            s.add(row)
    assert _alerts(workspace) == ["latency_p95_ms"]


def test_confidence_drop_boundary(workspace, versions):
    old, new = _setup(workspace)
    _logs(workspace, old, confidence=0.8)
    ids = _logs(workspace, new, confidence=0.7)  # drop 0.8 - 0.7 = 0.10000000000000009 in floats
    assert _alerts(workspace) == []
    with workspace.session() as s:
        row = s.get(RequestLog, ids[0])
        row.confidence = 0.6  # mean 0.699: drop 0.101
        s.add(row)
    assert _alerts(workspace) == ["confidence_drop"]


def test_rejection_rate_boundary(workspace, versions, datastream):
    _, new = _setup(workspace)
    ids = _logs(workspace, new)
    _suggestions(workspace, datastream, ids, rejected=20)  # 20/100 = 0.20
    assert _alerts(workspace) == []
    with workspace.session() as s:
        row = s.exec(select(AttributeSuggestion).where(AttributeSuggestion.status == "accepted")).first()
        row.status = "rejected"
        s.add(row)
    assert _alerts(workspace) == ["rejection_rate"]
    with workspace.session() as s:
        metrics = monitoring.deployment_metrics(s, s.get(Deployment, new))
    assert (metrics.decided, metrics.rejection_rate, metrics.acceptance_rate) == (100, 0.21, 0.79)


def test_few_requests_no_alert_and_auto_rollback(workspace, versions):
    _, new = _setup(workspace)
    _logs(workspace, new, n=9, failures=9)
    assert _alerts(workspace) == []  # below MIN_REQUESTS
    _logs(workspace, new, n=1, failures=1)
    result = monitoring.check_deployments(workspace, auto_rollback=True)
    assert [a.action for a in result.new_alerts] == ["auto_rollback"]
    assert result.rolled_back == ["v2 (graphics)"]
    with workspace.session() as s:
        assert choose_route(s, "graphics").version.version == "v1"
        assert [a.metric for a in monitoring.list_alerts(s)] == ["error_rate"]
    assert monitoring.acknowledge_alerts(workspace) == 1


@pytest.mark.parametrize(("value", "fires"), [(0.05, False), (0.0500001, True), (None, False)])
def test_breaches_strict(value, fires):
    assert monitoring.breaches(value, 0.05) is fires
