"""Campaign pane journeys: lazy tree, create through a form, delete with confirmation, accept a suggestion."""

from __future__ import annotations

import pytest
from sqlmodel import select

from lightdom_tui.db.models import Attribute, AttributeSuggestion, Campaign, Example
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def build_branch(workspace) -> int:  # noqa: ANN001
    """campaign → workflow → service → data stream through the tree service; returns the stream id."""
    from lightdom_tui.orchestration import tree

    with workspace.session() as session:
        campaign = tree.create_campaign(session, "shop")
        session.flush()
        workflow = tree.create_workflow(session, campaign.id, "daily")
        session.flush()
        service = tree.create_service(session, workflow.id, "pages", type="html")
        session.flush()
        stream = tree.create_datastream(session, service.id, "products", destination="sqlite:products")
        session.flush()
        return stream.id


async def expand_to_stream(pilot) -> None:  # noqa: ANN001
    """Open campaign → workflow → service and land on the data stream."""
    for _ in range(3):
        await pilot.press("space")  # expand (children load in a worker)
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)


async def test_create_campaign_through_form_and_lazy_tree(workspace) -> None:  # noqa: ANN001
    build_branch(workspace)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        tree = app.query_one("#campaign-tree")
        assert [str(n.label) for n in tree.root.children] == ["◆ shop"]
        assert [str(n.label) for n in tree.root.children[0].children] == ["loading…"]  # not loaded yet
        await pilot.press("c")
        await pilot.pause()
        # status is a closed list: enter opens it, typing finds "active", enter picks it, ctrl+s submits
        await pilot.press(*"launch", "tab", *"spring launch", "tab", "enter", "a", "enter", "ctrl+s")
        await settle(pilot)
        assert sorted(str(n.label) for n in tree.root.children) == ["◆ launch", "◆ shop"]
        await pilot.pause(0.1)
        assert str(tree.cursor_node.label) == "◆ launch"  # the cursor goes to the new node
        tree.move_cursor(next(n for n in tree.root.children if str(n.label) == "◆ shop"))
        await settle(pilot)
        await expand_to_stream(pilot)
        assert app.query_one("#campaign-tree").cursor_node.data.kind == "datastream"
    with workspace.session() as session:
        launch = session.exec(select(Campaign).where(Campaign.name == "launch")).one()
        assert (launch.description, launch.status) == ("spring launch", "active")


async def test_accept_edit_reject_suggestions(workspace) -> None:  # noqa: ANN001
    stream_id = build_branch(workspace)
    with workspace.session() as session:  # pending rows as the suggest service stores them
        for name in ("title", "price", "sku"):
            session.add(AttributeSuggestion(datastream_id=stream_id, topic="products", name=name,
                                            type="string", description=f"the {name}", model_version="m1"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await expand_to_stream(pilot)
        table = app.query_one("#suggestions")
        assert table.row_count == 3
        table.focus()
        await pilot.press("a")  # accept "title"
        await settle(pilot)
        await pilot.press("e")  # edit "price" → a number
        await pilot.pause()
        await pilot.press("tab", "home", "ctrl+k", *"number", "ctrl+s")
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"not on the page", "enter")
        await settle(pilot)
        assert table.row_count == 0
    with workspace.session() as session:
        attributes = {a.name: a.type for a in session.exec(select(Attribute))}
        assert attributes == {"title": "string", "price": "number"}
        statuses = {s.name: s.status for s in session.exec(select(AttributeSuggestion))}
        assert statuses == {"title": "accepted", "price": "edited", "sku": "rejected"}
        assert session.exec(select(Example)).all()  # decisions became curated examples


async def test_delete_asks_for_confirmation_with_counts(workspace) -> None:  # noqa: ANN001
    build_branch(workspace)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "1 workflows" in str(app.screen.query_one(".dialog-text").render())
        await pilot.press("y")
        await settle(pilot)
    with workspace.session() as session:
        assert session.exec(select(Campaign)).all() == []


@pytest.mark.slow
async def test_suggest_with_the_model_then_accept(workspace) -> None:  # noqa: ANN001
    import lightdom_tui.serving.router  # noqa: F401 - a router that fails to import fails this test, never skips it
    stream_id = build_branch(workspace)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await expand_to_stream(pilot)
        await pilot.press("g")
        await pilot.pause()
        await pilot.press("enter")  # topic = the stream's name
        await settle(pilot, rounds=6)
        table = app.query_one("#suggestions")
        assert table.row_count > 0
        table.focus()
        await pilot.press("a")
        await settle(pilot)
    with workspace.session() as session:
        rows = session.exec(select(AttributeSuggestion).where(AttributeSuggestion.datastream_id == stream_id)).all()
        assert any(r.status == "accepted" for r in rows)
        assert session.exec(select(Attribute)).all()
