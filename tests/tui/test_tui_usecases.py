"""The TUI side of the defects the faces disagreed on (issue 16): same use cases, same results as the CLI.

The CLI side is in tests/usecases/test_usecases_defects.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlmodel import select
from textual.widgets import Input

from lightdom_tui.db.models import AliasEvent, AttributeSuggestion, Campaign, Deployment, Workflow
from lightdom_tui.tui.app import create_app
from lightdom_tui.tui.messages import DataChanged
from tests.tui.conftest import settle
from tests.tui.test_tui_campaign import build_branch, expand_to_stream
from tests.usecases.test_usecases_defects import register


async def fill_form(pilot, **values: str) -> None:  # noqa: ANN001
    """Type into the open form's fields by key, then submit it."""
    for key, value in values.items():
        pilot.app.screen.query_one(f"#form-{key}").value = value  # an Input, or a Select for closed lists
    await pilot.press("ctrl+s")
    await settle(pilot)


async def new_workflow(pilot, **values: str) -> None:  # noqa: ANN001
    """On the campaign: n opens the workflow form (with its defaults), then fill and submit it."""
    tree = pilot.app.query_one("#campaign-tree")
    tree.move_cursor(tree.root.children[0])  # back on the campaign (a create leaves the cursor on the new node)
    await settle(pilot)
    await pilot.press("n")
    await pilot.pause()
    await fill_form(pilot, **values)


async def test_workflows_made_in_the_tui_get_a_token_a_status_and_parsed_json(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.orchestration.scheduler import due_now

    with workspace.session() as session:
        session.add(Campaign(name="shop"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen.values()
        assert form["status"] == "draft" and form["trigger"] == "manual"  # the use case's defaults
        await fill_form(pilot, name="hook", trigger="webhook")
        token = app.screen.query_one(Input).value  # the token dialog, shown once
        assert "Webhook token" in str(app.screen.query_one(".dialog").border_title) and len(token) > 20
        await pilot.press("escape")
        await settle(pilot)
        await new_workflow(pilot, name="nightly", trigger="schedule", trigger_config='{"cron": "* * * * *"}',
                           status="active")
        await new_workflow(pilot, name="later", trigger="schedule", trigger_config='{"cron": "* * * * *"}')
        notes = [str(n.message) for n in app._notifications if "fires only once it is active" in str(n.message)]
        assert len(notes) == 1 and "schedule trigger" in notes[0]  # a draft webhook still answers; a schedule waits
        await new_workflow(pilot, name="broken", trigger_config="{oops")  # JSON is parsed by the use case
        assert any(str(n.message) == "workflow.trigger_config: not valid JSON: Expecting property name enclosed "
                   "in double quotes at column 2" for n in app._notifications)  # one line naming the field
    with workspace.session() as session:
        rows = {w.name: w for w in session.exec(select(Workflow))}
        config = json.loads(rows["hook"].trigger_config_json)
        assert config.get("token_sha256") and token not in rows["hook"].trigger_config_json
        due = [d.workflow_id for d in due_now(session, datetime.now(timezone.utc) + timedelta(minutes=2))]
    assert due == [rows["nightly"].id]  # the active schedule runs; the draft one waits


async def test_rollbacks_from_the_tui_record_their_reason(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.usecases.registry import AliasMoveRequest, DeployRequest, deploy, promote

    register(workspace, "a")
    register(workspace, "b")
    for version in ("a", "b"):
        promote(workspace, AliasMoveRequest("production", version))
        deploy(workspace, DeployRequest(version, "attribute_generation", health="none"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("b")  # alias rollback: the default reason
        await pilot.pause()
        await fill_form(pilot)
        await pilot.press("R")  # deployment rollback with the user's reason
        await pilot.pause()
        await fill_form(pilot, reason="b is slow")
        versions = app.query_one("#versions")
        assert "production" in str(versions.get_row("a")[4]) and "attribute_generation" in str(versions.get_row("a")[5])
    with workspace.session() as session:
        event = session.exec(select(AliasEvent).where(AliasEvent.action == "rollback")).one()
        rolled = [json.loads(d.health_json).get("rollback_reason") for d in session.exec(select(Deployment))]
    assert event.reason == "manual rollback"
    assert "b is slow" in rolled


async def test_the_refresh_bus_updates_panes_after_changes_elsewhere(workspace) -> None:  # noqa: ANN001
    stream_id = build_branch(workspace)
    with workspace.session() as session:
        session.add(AttributeSuggestion(datastream_id=stream_id, topic="products", name="title", type="string",
                                        description="the title", model_version="m1"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        counters = app.query_one("#curation-counters")
        assert "approved 0" in str(counters.render())
        await pilot.press("3")  # the registry pane loads once…
        await settle(pilot)
        versions = app.query_one("#versions")
        before = versions.row_count
        register(workspace, "trained-elsewhere")
        await pilot.press("4")
        await settle(pilot)
        await expand_to_stream(pilot)
        app.query_one("#suggestions").focus()
        await pilot.press("a")  # accepting a suggestion makes an approved curated example
        await settle(pilot)
        assert "approved 1" in str(counters.render())  # the curation counters followed
        app.query_one("#pane-training").post_message(DataChanged("runs"))  # what a finished run posts
        await settle(pilot)
        assert versions.row_count == before + 1 and "trained-elsewhere" in versions.rows  # …and follows the bus
