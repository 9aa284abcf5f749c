"""`deploy widen` and `simulate` from the registry pane (issue 19): the database state they leave is what the
CLI's and the service's tests assert (tests/registry/test_registry_deploy.py, test_registry_simulate.py,
test_registry_cli.py)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


def _serving(workspace, task_type: str) -> str | None:  # noqa: ANN001
    from lightdom_tui.registry.routing import choose_route

    with workspace.session() as session:
        route = choose_route(session, task_type)
        return route.version.version if route.version else None


async def _select(pilot, version: str) -> None:  # noqa: ANN001
    table = pilot.app.query_one("#versions")
    table.move_cursor(row=table.get_row_index(version))
    await settle(pilot)


async def _widen(pilot, task_types: str) -> None:  # noqa: ANN001
    await pilot.press("W")
    await pilot.pause()
    pilot.app.screen.query_one("#prompt-input").value = task_types
    await pilot.press("enter")
    await settle(pilot)


async def test_widen_a_staged_rollout_from_the_registry_pane(workspace, embedded_gguf) -> None:  # noqa: ANN001
    """W on a version in a staged rollout: the next stage needs task types (one line, nothing changes), then
    medium with the named ones, then the last stage serves everything; past it, one line — as `deploy widen`."""
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.usecases.registry import DeployRequest, deploy, deploy_status

    with workspace.session() as session:
        for name in ("v1", "v2"):
            register_version(session, version=name, kind="gguf", format="gguf", path=embedded_gguf, sha256="0" * 64)
    deploy(workspace, DeployRequest("v1", None, health="none"))  # v1 serves everything
    assert deploy(workspace, DeployRequest("v2", "graphics,audio", health="none")).stage == "low"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await _select(pilot, "v2")
        await _widen(pilot, "")
        assert "--task-types: name the task types for stage 'medium'" in _messages(app)
        assert _serving(workspace, "text") == "v1"
        await _widen(pilot, "text")
        assert "v2 serves text at stage medium" in _messages(app)
        assert "text" in str(app.query_one("#versions").get_row("v2")[5])  # the refresh bus: deployed to
        await _widen(pilot, "")
        assert "v2 serves * at stage high" in _messages(app)
        await _widen(pilot, "")
        assert "model 'v2': already at the last stage 'high'" in _messages(app)
    assert deploy_status(workspace).rollouts == {"v2": "high"}
    for task_type in ("graphics", "text", "anything"):
        assert _serving(workspace, task_type) == "v2"


@pytest.mark.slow
async def test_simulate_from_the_registry_pane_touches_nothing(workspace) -> None:  # noqa: ANN001
    """s on a version: with nothing logged, one line; with a logged call, the replay's verdict line, and no
    request log, example, outcome, suggestion or cache row written — as `lightdom simulate`."""
    from lightdom_tui.curation.logging import log_call
    from lightdom_tui.db.models import ABOutcome, AttributeSuggestion, Example, RequestLog, ResponseCache
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION

    def counts() -> tuple[int, ...]:
        with workspace.session() as s:
            return tuple(s.exec(select(func.count()).select_from(t)).one()
                         for t in (RequestLog, Example, ABOutcome, AttributeSuggestion, ResponseCache))

    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    workspace.settings.serving.max_tokens = 160
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await _select(pilot, EMBEDDED_VERSION)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any("nothing to replay" in t for t in _messages(app))
        answer = {"attributes": [{"name": "price", "type": "number", "description": "cost"},
                                 {"name": "sku", "type": "string", "description": "id"}]}
        log_call(workspace=workspace, task_type="attribute_generation", prompt="Topic: product page\nCount: 2",
                 output=json.dumps(answer), metadata={"topic": "product page"})
        before = counts()
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#form-limit").value = "1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        line = next(t for t in _messages(app) if t.startswith("simulate "))
    assert line.startswith(f"simulate {EMBEDDED_VERSION} on 1 ")
    assert counts() == before
