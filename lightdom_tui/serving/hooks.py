"""What happens after a request is logged, for every live path (router and gateway).

Serving calls these; the registry never imports serving (import-linter checks it):
- an A/B arm's own local answer is a validity outcome for that arm (a cache hit
  repeats an earlier answer and a remote fallback is another model's answer, so
  neither counts);
- monitoring re-checks the alert thresholds when a deployment's request lands on a
  multiple of ``monitoring.check_every`` in the request log, so no daemon is needed:
  the process that serves is the one that notices a breach (and, when configured,
  rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightdom_tui.workspace import Workspace


@dataclass
class Served:
    """The facts of one logged request the hooks need."""

    log_id: int
    engine: str  # local / remote / cache
    success: bool
    latency_ms: float
    deployment_id: int | None = None
    ab_test_id: int | None = None
    arm: str | None = None
    request_key: str | None = None


def record_ab_outcome(session: Any, served: Served) -> None:
    """In the request's own transaction: the arm's validity outcome (see the module docstring)."""
    if served.ab_test_id is None or served.arm is None or served.engine != "local":
        return
    from lightdom_tui.registry.ab import record_outcome

    record_outcome(session, served.ab_test_id, served.arm, signal="validity", success=served.success,
                   latency_ms=served.latency_ms, request_key=served.request_key)


def check_alerts(ws: Workspace, served: Served) -> None:
    """After the commit: every ``monitoring.check_every``-th logged request of a deployment re-checks alerts."""
    every = ws.settings.monitoring.check_every
    if served.deployment_id is None or every <= 0 or served.log_id % every:
        return
    from lightdom_tui.registry.monitoring import check_deployments

    check_deployments(ws)
