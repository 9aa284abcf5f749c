"""Issue 19's first-hour traps, each driven from the keyboard with Pilot on a real workspace."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import update
from sqlmodel import select

from lightdom_tui.db.models import CurationEvent, Dataset, Example
from lightdom_tui.tui.app import create_app
from lightdom_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from lightdom_tui.tui.screens.editor import EditorScreen
from lightdom_tui.tui.widgets.curation.table import ExampleTable
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def test_editor_escape_unchanged_edit_and_quarantine_escape(tui_workspace) -> None:  # noqa: ANN001
    """Trap 1: escape discards the editor; saving it unchanged is a quiet notice (no error, no row);
    escape leaves the quarantine list."""
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.focused is app.screen.query_one("#editor-text")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EditorScreen)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+s")  # unchanged
        await settle(pilot)
        assert not isinstance(app.screen, (EditorScreen, ErrorScreen))
        assert any("unchanged: nothing saved" in text for text in _messages(app))
        assert not any("LightdomError" in text for text in _messages(app))
        await pilot.press("j")  # the next key is not swallowed
        assert table.cursor == 1
        await pilot.press("Q")
        await settle(pilot)
        assert app.query_one("#curation-switcher").current == "quarantine-box"
        await pilot.press("escape")
        await pilot.pause()
        assert app.query_one("#curation-switcher").current == "curation-main"
        assert app.focused is table
    with tui_workspace.session() as session:
        assert len(session.exec(select(Example)).all()) == 60  # no correction was made


async def test_user_error_is_a_toast_and_an_unexpected_one_gives_the_key_back(tui_workspace) -> None:  # noqa: ANN001
    """Trap 1: a worker's LightdomError is one line in a toast; the error modal passes the next key on."""
    from lightdom_tui.errors import LightdomError

    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        pane = app.query_one("#pane-curation")

        def refuse() -> None:
            raise LightdomError("example 1: the edit changes nothing")

        pane.run_worker(refuse, thread=True, name="edit example", exit_on_error=False)
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        assert "example 1: the edit changes nothing" in _messages(app)
        app.show_error("load failed", "OSError: disk gone")
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        await pilot.press("j")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        assert app.query_one("#examples", ExampleTable).cursor == 1  # the key did its job underneath


async def test_cursor_stays_on_the_corrected_example(tui_workspace) -> None:  # noqa: ANN001
    """Trap 4: newest first, a correction lands above the cursor; the cursor stays on the example."""
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        sort = app.query_one("#f-sort")
        sort.value = "-id"
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        table.focus()
        await pilot.press("j", "j")
        target = table.current.id
        assert target == 58
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen.query_one("#editor-text")
        editor.text = editor.text.replace("Product title", "The product's title")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert table.current.id == target
        assert table.current.status == "rejected"  # the original, now corrected
    with tui_workspace.session() as session:
        assert session.exec(select(Example).where(Example.parent_id == target)).one().status == "approved"


async def test_filters_offer_existing_values(tui_workspace) -> None:  # noqa: ANN001
    """Trap 5: task type and source are lists of what exists; the quality title reads q≥0.9."""
    from textual.widgets import Select

    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        task = app.query_one("#f-task", Select)
        offered = [value for _, value in task._options if isinstance(value, str)]
        assert offered == ["attribute_generation", "tool_use"]
        assert [v for _, v in app.query_one("#f-source", Select)._options if isinstance(v, str)] == ["sample"]
        task.value = "tool_use"
        await settle(pilot)
        assert app.query_one("#examples", ExampleTable).total == 30
        app.query_one("#f-qmin").value = "0.9"
        app.query_one("#f-qmin").focus()
        await pilot.press("enter")
        await settle(pilot)
        title = app.query_one("#examples-box").border_title
        assert "q≥0.9" in title and "≥=" not in title and "task=tool_use" in title


async def test_undo_says_what_and_asks_before_reaching_into_an_earlier_session(tui_workspace) -> None:  # noqa: ANN001
    """Trap 7: u names what it reverts; a batch from before the app started needs a yes."""
    from lightdom_tui.curation import actions

    actions.approve(tui_workspace, list(range(1, 30)))  # 29 approvals in an earlier session
    with tui_workspace.session() as session:
        session.exec(update(CurationEvent).values(created_at=datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)))
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "approve of 29 examples" in app.screen._question and "before this session" in app.screen._question
        await pilot.press("n")
        await settle(pilot)
        with tui_workspace.session() as session:
            assert len(session.exec(select(Example).where(Example.status == "approved")).all()) == 29
        await pilot.press("s")  # pending only: the first is #30
        await settle(pilot)
        await pilot.press("a")  # this session's action: undone without a question
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any(t.startswith("undone: approve of 1 example (") for t in _messages(app))
        with tui_workspace.session() as session:
            assert len(session.exec(select(Example).where(Example.status == "approved")).all()) == 29
        await pilot.press("u")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
    with tui_workspace.session() as session:
        assert session.exec(select(Example).where(Example.status == "approved")).all() == []


async def test_dataset_name_asked_only_when_the_filter_selects_something(tui_workspace) -> None:  # noqa: ANN001
    """Trap 9: b with nothing approved says so before asking for a name; then the prompt names the count."""
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]  # no name prompt
        assert any("no examples to build a dataset from" in t for t in _messages(app))
        await pilot.press("a", "a")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert "2 examples" in str(app.screen.query_one(".dialog-text").render())
        await pilot.press(*"two", "enter")
        await settle(pilot)
    with tui_workspace.session() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "two")).one()
        assert dataset.n_train + dataset.n_validation == 2


async def test_status_bar_names_the_model_generate_would_use(tui_workspace) -> None:  # noqa: ANN001
    """Trap 2: after init (embedded model registered, nothing deployed) the status bar says the embedded
    base answers locally, as `generate` does, not "model none · engine remote"."""
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION

    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        text = str(app.query_one("#status-bar").render())
        assert f"model {EMBEDDED_VERSION} (embedded base)" in text
        assert "engine local" in text and "engine remote" not in text


async def test_footer_fits_and_help_speaks_human_at_80x24(tui_workspace) -> None:  # noqa: ANN001
    """Traps 8 and 10: at 80×24 every pane's footer keys fit whole (help and the palette always shown);
    F1 puts the pane you are in first with human titles and typed key names; the table keeps the message."""
    from textual.widgets._footer import FooterKey

    from lightdom_tui.tui.commands import LightdomCommands
    from lightdom_tui.tui.widgets.key_footer import key_width

    app = create_app(tui_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one("#examples", ExampleTable)
        header = str(app.query_one("#examples-header").render())
        assert "first user message" in header
        assert table.current.preview[:16] in table.render_line(0).text  # the message column is on screen
        for pane in ("2", "3", "4", "1"):
            await pilot.press(pane)
            await settle(pilot)
            keys = list(app.screen.query(FooterKey))
            assert sum(key_width(key) for key in keys) <= 80
            shown = {key.key_display for key in keys}
            assert {"f1", "^p"} <= shown
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        assert text.startswith("Curation pane")
        assert "CurationPane" not in text and "slash" not in text and "question_mark" not in text
        assert " / " in text and " ? " in text  # "/" search and "f1 / ?" help, as typed
        await pilot.press("escape")
        provider = LightdomCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        for wanted in ("Edit example", "Search examples", "Status filter: next", "Filters"):
            assert wanted in names, wanted


async def test_form_keys_after_tab_and_enter_land_in_the_next_field(workspace) -> None:  # noqa: ANN001
    """Trap 6: a fast typist's keys after tab / enter reach the next field (posted in one burst, as a terminal
    delivers them); enter on the first field moves on instead of submitting; closed lists are Selects.
    Trap 4: after the create the cursor is on the new node, and the expanded branch stays open."""
    from textual import events
    from textual.widgets import Select

    from lightdom_tui.db.models import Campaign
    from lightdom_tui.tui.screens.form import FormScreen

    with workspace.session() as session:
        session.add(Campaign(name="shop"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        tree = app.query_one("#campaign-tree")
        await pilot.press("n")  # a workflow under "shop"
        await pilot.pause()
        assert isinstance(app.screen.query_one("#form-trigger"), Select)
        assert isinstance(app.screen.query_one("#form-status"), Select)
        await pilot.press(*"nightly", "ctrl+s")
        await settle(pilot)
        await pilot.pause(0.2)
        assert str(tree.cursor_node.label) == "⚙ nightly"  # on the new node, its parent open
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        for key, character in [*((c, c) for c in "Spring shop"), ("tab", None), *((c, c) for c in "Product pages")]:
            app.post_message(events.Key(key, character))  # one burst: no pause between the keys
        await pilot.pause()
        assert app.screen.values()["name"] == "Spring shop"
        assert app.screen.values()["description"] == "Product pages"
        await pilot.press("shift+tab", "enter")  # enter on the first field: the next field, not submit
        assert isinstance(app.screen, FormScreen)
        assert app.screen.focused.id == "form-description"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.pause(0.2)
        assert str(tree.cursor_node.label) == "◆ Spring shop"
        shop = next(n for n in tree.root.children if str(n.label) == "◆ shop")
        assert shop.is_expanded and [str(n.label) for n in shop.children] == ["⚙ nightly"]  # still open
    with workspace.session() as session:
        assert session.exec(select(Campaign).where(Campaign.name == "Spring shop")).one().description == \
            "Product pages"


async def test_ab_test_against_itself_refused_and_deploy_says_it_started(workspace) -> None:  # noqa: ANN001
    """Trap 9: m then t on the same version is refused before the form; deploy says at once that it runs,
    then leaves the deployment the CLI's `deploy` leaves."""
    from lightdom_tui.db.models import ABTest, Deployment
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
    from lightdom_tui.tui.screens.form import FormScreen

    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("m", "t")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
        assert any(f"{EMBEDDED_VERSION} is both a and b" in t for t in _messages(app))
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("enter")  # every task type
        await pilot.pause(0.05)
        assert any(t.startswith(f"deploying {EMBEDDED_VERSION}") for t in _messages(app))  # before it finishes
        await settle(pilot)
    with workspace.session() as session:
        assert session.exec(select(ABTest)).all() == []
        deployment = session.exec(select(Deployment)).one()
        assert deployment.status == "active" and deployment.task_type == "*"


async def test_campaign_detail_follows_an_edit(workspace) -> None:  # noqa: ANN001
    """Trap 3: after E (edit node) the detail panel shows the new values, not the old ones."""
    from lightdom_tui.db.models import Campaign

    with workspace.session() as session:
        session.add(Campaign(name="shop", description="old words"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert "old words" in str(app.query_one("#node-detail").render())
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one("#form-description").value = "new words"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.pause(0.1)
        await settle(pilot)
        detail = str(app.query_one("#node-detail").render())
        assert "new words" in detail and "old words" not in detail
