"""Curation pane journeys: filter → approve → undo, reject with a reason, bulk, build dataset."""

from __future__ import annotations

from sqlmodel import select

from lightdom_tui.db.models import Dataset, Example
from lightdom_tui.tui.app import create_app
from lightdom_tui.tui.widgets.curation.table import ExampleTable
from tests.tui.conftest import settle


def statuses(workspace) -> dict[int, str]:  # noqa: ANN001
    with workspace.session() as session:
        return {e.id: e.status for e in session.exec(select(Example))}


async def test_filter_approve_undo(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        assert table.total == 60
        assert app.focused is table
        await pilot.press("s")  # status filter: pending
        await settle(pilot)
        assert "status=pending" in app.query_one("#examples-box").border_title
        await pilot.press("j", "j")  # third pending row
        target = table.current.id
        await pilot.press("a")
        await settle(pilot)
        assert statuses(tui_workspace)[target] == "approved"
        assert table.row_at(2).status == "approved"  # shown in place, no refetch of everything
        assert "approved 1" in str(app.query_one("#curation-counters").render())
        await pilot.press("u")
        await settle(pilot)
        assert statuses(tui_workspace)[target] == "pending"
        assert set(statuses(tui_workspace).values()) == {"pending"}


async def test_reject_with_reason_and_bulk_approve(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        first = table.current.id
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"too vague", "enter")
        await settle(pilot)
        with tui_workspace.session() as session:
            row = session.get(Example, first)
            assert (row.status, row.reject_reason) == ("rejected", "too vague")
        # Filter to one task type, then approve the whole filtered set after confirming.
        await pilot.press("slash")
        await pilot.press(*"topic 1", "enter")  # text search over the conversation
        await settle(pilot)
        matching = table.total
        assert 0 < matching < 60
        await pilot.press("escape", "A")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        approved = [i for i, s in statuses(tui_workspace).items() if s == "approved"]
        assert len(approved) == matching - (1 if first in approved else 0) or len(approved) == matching
        assert first not in approved  # the rejected one (topic 0) did not match "topic 1"


async def test_build_dataset_from_filter(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"attrs", "enter")
        await settle(pilot)
    with tui_workspace.session() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "attrs")).one()
        assert dataset.n_train + dataset.n_validation == 60


async def test_table_never_holds_all_rows(workspace) -> None:  # noqa: ANN001
    """With more rows than the LRU holds, paging keeps memory bounded and the count exact."""
    from lightdom_tui.tui.widgets.curation import table as table_module
    from tests.tui.conftest import seed_examples

    seed_examples(workspace, 450)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        assert table.total == 450
        assert len(table.loaded_rows()) <= 2 * table_module.PAGE_SIZE
        for _ in range(15):
            await pilot.press("pagedown")
            await settle(pilot, rounds=1)
        assert table.cursor > table_module.PAGE_SIZE  # crossed into the second keyset page
        assert table.current is not None and table.current.id == table.cursor + 1


async def test_edit_in_editor_creates_a_correction(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        first = app.query_one("#examples", ExampleTable).current.id
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen.query_one("#editor-text")
        editor.text = editor.text.replace("Product title", "The product's title")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with tui_workspace.session() as session:
        correction = session.exec(select(Example).where(Example.parent_id == first)).one()
        assert "The product's title" in correction.messages_json
        assert correction.status == "approved"
        assert session.get(Example, first).status == "rejected"


async def test_quarantine_list_shows_reasons(workspace, tmp_path) -> None:  # noqa: ANN001
    from lightdom_tui.curation.ingest import ingest_paths

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}\n'
                   "{not json\n", encoding="utf-8")
    ingest_paths(workspace, [bad])
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("Q")
        await settle(pilot)
        table = app.query_one("#quarantine")
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[0].endswith("bad.jsonl") and row[1] == "2" and row[2]  # file, line, reason
        assert "showing 1 of 1" in app.query_one("#quarantine-box").border_title


def test_conversation_view_shows_data_without_its_escapes_or_markup() -> None:
    """A message, a tool name or a message name from imported data reaches the terminal as plain text."""
    import json

    from rich.console import Console

    from lightdom_tui.tui.widgets.curation.conversation import render_conversation

    messages = [{"role": "user", "name": "[bold]x[/]", "content": "hi\x1b]0;pwned\x07 \x1b[2Jthere [/]"},
                {"role": "assistant", "content": None,
                 "tool_calls": [{"function": {"name": "f\x1b[31m", "arguments": "{}"}}]}]
    console = Console(width=80, record=True, color_system=None)
    console.print(render_conversation(json.dumps(messages)))
    shown = console.export_text()
    assert "\x1b" not in shown and "pwned" not in shown
    assert "hi there [/]" in shown and "user · [bold]x[/]" in shown and "tool call f" in shown
