"""Staged deployment: health check gate, widen, rollback speed, on real files and llama.cpp."""

from __future__ import annotations

import pytest

from lightdom_tui.errors import LightdomError
from lightdom_tui.registry import deploy as dep
from lightdom_tui.registry.routing import choose_route
from lightdom_tui.registry.versions import register_version


@pytest.fixture()
def broken(workspace, corrupt_gguf) -> str:
    """A registered version whose file llama.cpp cannot load."""
    with workspace.session() as s:
        register_version(s, version="broken", kind="gguf", format="gguf", path=corrupt_gguf)
    return "broken"


def _serving(workspace, task_type: str) -> str | None:
    with workspace.session() as s:
        route = choose_route(s, task_type)
        return route.version.version if route.version else None


def test_failed_health_check_keeps_previous_version(workspace, versions, broken):
    good = dep.deploy(workspace, "v1", ["graphics"], health_check=dep.load_health_check)
    assert good.ok and good.deployments[0].status == "active"
    bad = dep.deploy(workspace, broken, ["graphics"], health_check=dep.load_health_check)
    assert not bad.ok and "Failed to load model" in bad.health["error"]
    assert bad.deployments[0].status == "failed"
    assert _serving(workspace, "graphics") == "v1"
    status = dep.deploy_status(workspace)
    assert [(d.task_type, d.version) for d in status.active] == [("graphics", "v1")]
    assert [d.status for d in status.history] == ["failed", "active"]


def test_staged_rollout_and_fast_rollback(workspace, versions):
    check = dep.skip_health_check
    dep.deploy(workspace, "v1", None, health_check=check)  # v1 serves everything
    assert dep.deploy(workspace, "v2", ["graphics", "audio"], health_check=check).stage == "low"
    assert (_serving(workspace, "graphics"), _serving(workspace, "text")) == ("v2", "v1")
    with pytest.raises(LightdomError, match="name the task types for stage 'medium'"):
        dep.widen(workspace, "v2")
    assert dep.widen(workspace, "v2", ["text"]).stage == "medium"
    final = dep.widen(workspace, "v2")
    assert (final.stage, final.task_types) == ("high", ["*"])
    assert _serving(workspace, "anything") == "v2"
    with pytest.raises(LightdomError, match="already at the last stage"):
        dep.widen(workspace, "v2")
    assert dep.deploy_status(workspace).rollouts == {"v2": "high"}
    result = dep.rollback(workspace)
    assert result.elapsed_ms < 1000
    assert sorted(d.task_type for d in result.rolled_back) == ["*", "audio", "graphics", "text"]
    assert [(d.task_type, d.version) for d in result.restored] == [("*", "v1")]
    for task_type in ("graphics", "text", "anything"):
        assert _serving(workspace, task_type) == "v1"
    dep.rollback(workspace, "*")
    assert _serving(workspace, "graphics") is None  # nothing left: the router's own fallback
    with pytest.raises(LightdomError, match="no active deployment"):
        dep.rollback(workspace)


def test_deploy_rejects_unknown_stage_and_version(workspace, versions):
    with pytest.raises(LightdomError, match="--stage wide"):
        dep.deploy(workspace, "v1", stage="wide", health_check=dep.skip_health_check)
    with pytest.raises(LightdomError, match="model 'nope'"):
        dep.deploy(workspace, "nope", health_check=dep.skip_health_check)


@pytest.mark.slow
def test_canary_health_check_on_the_inference_core(workspace, broken):
    from sqlmodel import select

    from lightdom_tui.db.models import RequestLog, ResponseCache

    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    workspace.settings.serving.fallback = False  # a failing local model must not be rescued remotely
    workspace.settings.deploy.canary_topics = ["blog post"]
    workspace.settings.deploy.health_latency_ms = 1.0
    slow = dep.deploy(workspace, "smollm2-135m-instruct", ["attribute_generation"])
    assert not slow.ok and "over the 1 ms budget" in slow.health["error"]
    assert _serving(workspace, "attribute_generation") is None  # nothing was deployed
    workspace.settings.deploy.health_latency_ms = 120_000.0  # generous: this box is shared
    good = dep.deploy(workspace, "smollm2-135m-instruct", ["attribute_generation"])
    assert good.ok, good.health
    load, canary = good.health["checks"]
    assert (load["topic"], load["ok"]) == ("load", True)
    assert canary["ok"] and canary["n_attributes"] >= 1 and canary["engine"] == "local"  # never the cache
    bad = dep.deploy(workspace, broken, ["attribute_generation"])
    assert not bad.ok and "cannot load" in bad.health["error"]
    assert _serving(workspace, "attribute_generation") == "smollm2-135m-instruct"
    again = dep.deploy(workspace, "smollm2-135m-instruct", ["attribute_generation"])
    assert again.health["checks"][1]["engine"] == "local"  # a re-deploy is checked on fresh answers
    with workspace.session() as s:
        logs = s.exec(select(RequestLog)).all()
        cached = s.exec(select(ResponseCache)).all()
    assert logs == [] and cached == []  # canaries touch neither the request log nor the response cache
