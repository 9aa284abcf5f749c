"""App shell: pane keys, help lists every binding, settings saved to lightdom.toml, theme, key dialog,
palette, worker errors shown in a modal."""

from __future__ import annotations

from lightdom_tui.settings import load_settings
from lightdom_tui.tui.app import create_app
from lightdom_tui.tui.screens.dialogs import ErrorScreen
from tests.tui.conftest import settle


async def test_number_keys_help_and_palette(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for key, pane in (("2", "training"), ("3", "registry"), ("4", "campaigns"), ("1", "curation")):
            await pilot.press(key)
            await settle(pilot)
            assert app.query_one("#panes").active == pane
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        # Every binding of every pane, the app and the dialogs is listed.
        for description in ("Approve", "Reject…", "Undo", "Start run…", "Export GGUF…", "Promote…",
                            "Suggest attributes", "Bundle wizard", "Settings", "API key", "Save", "$EDITOR"):
            assert description in text, description
        await pilot.press("escape")
        # The palette offers the pane's actions by name.
        from lightdom_tui.tui.commands import LightdomCommands

        provider = LightdomCommands(app.screen)
        hits = [hit.text async for hit in provider.search("approve all")]
        assert any("Approve all filtered examples" in str(hit) for hit in hits)


async def test_settings_screen_writes_lightdom_toml(tui_workspace) -> None:  # noqa: ANN001
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        field = app.screen.query_one("#set-tui--page_size")
        field.value = "500"
        bad = app.screen.query_one("#set-serving--n_ctx")
        bad.value = "lots"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "n_ctx" in str(app.screen.query_one("#settings-status").render())  # error names the key
        bad.value = "4096"
        networks = app.screen.query_one("#set-orchestration--allowed_networks")
        networks.value = '["[/]"]'  # quoted back in the error: shown as typed, not read as markup
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "'[/]' is not a network" in str(app.screen.query_one("#settings-status").render())
        networks.value = "[]"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("ctrl+t")  # theme toggle is remembered too
        await settle(pilot)
        assert app.theme == "textual-light"
    saved = load_settings(tui_workspace.root)
    assert (saved.tui.page_size, saved.serving.n_ctx, saved.tui.theme) == (500, 4096, "textual-light")


async def test_api_key_is_never_shown(tui_workspace) -> None:  # noqa: ANN001
    secret = "sk-test-0123456789abcdef"
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await pilot.pause()
        dialog = app.screen
        field = dialog.query_one("#api-key-input")
        assert field.password
        await pilot.press(*secret)
        assert secret not in str(field.render())  # masked while typing
        await pilot.press("enter")
        await settle(pilot)
        assert field.value == ""  # not kept in the widget
        shown = str(dialog.query_one("#api-key-status").render()) if dialog.is_attached else ""
        assert secret not in shown
        assert all(secret not in str(n.message) for n in app._notifications)


async def test_worker_error_opens_error_modal(tui_workspace) -> None:  # noqa: ANN001
    """A user error from a worker is a one-line toast; anything else opens the error modal."""
    from lightdom_tui.tui.widgets.curation import source

    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        pane = app.query_one("#pane-curation")
        pane._build("  ")  # the service refuses an empty dataset name
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        assert any("dataset name" in str(n.message) for n in app._notifications)
        pane.run_worker(lambda: source.quarantine(None, 1), thread=True, name="load quarantine",  # type: ignore[arg-type]
                        exit_on_error=False)  # a bug, not the user's doing
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "AttributeError" in app.screen._message


async def test_a_settings_file_that_cannot_be_written_is_one_line_not_a_crash(tui_workspace) -> None:  # noqa: ANN001
    """The theme toggle and the settings screen on a workspace whose lightdom.toml cannot be written."""
    settings_file = tui_workspace.root / "lightdom.toml"
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        settings_file.unlink()
        settings_file.mkdir()  # a folder where the file is: every write fails (a read-only workspace, as root)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.theme == "textual-light"  # changed for this session
        assert any("theme not remembered: " in str(n.message) and "cannot write" in str(n.message)
                   for n in app._notifications)
        await pilot.press("f2")
        await pilot.pause()
        app.screen.query_one("#set-tui--page_size").value = "300"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "cannot write" in str(app.screen.query_one("#settings-status").render())  # the screen stays open
