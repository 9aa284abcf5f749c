"""Keys users can change: [keymap] in lightdom.toml rebinds by binding id, and help shows the new keys."""

from __future__ import annotations

from sqlmodel import select

from lightdom_tui.db.models import Example
from lightdom_tui.settings import load_settings, save_settings
from lightdom_tui.tui.app import create_app
from lightdom_tui.tui.widgets.curation.table import ExampleTable
from tests.tui.conftest import settle


async def test_keymap_from_lightdom_toml_rebinds_and_help_follows(tui_workspace) -> None:  # noqa: ANN001
    settings = tui_workspace.settings
    settings.keymap = {"curation.approve": "y", "app.quit": "ctrl+q", "no.such.binding": "z"}
    save_settings(tui_workspace.root, settings)
    tui_workspace.settings = load_settings(tui_workspace.root)  # read back from the file, as at startup
    assert tui_workspace.settings.keymap["curation.approve"] == "y"
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert any("no.such.binding" in str(n.message) for n in app._notifications)
        first = app.query_one("#examples", ExampleTable).current.id
        await pilot.press("a")  # no longer approve
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("q")  # no longer quit
        await settle(pilot)
        assert app.is_running
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        assert " y   Approve  curation.approve" in text  # the new key, and the id users map
        assert " a   Approve" not in text
    with tui_workspace.session() as session:
        approved = session.exec(select(Example.id).where(Example.status == "approved")).all()
    assert approved == [first]


def test_a_bad_keymap_entry_is_one_line_naming_it(tmp_path) -> None:  # noqa: ANN001
    import pytest

    from lightdom_tui.errors import LightdomError
    from lightdom_tui.settings import SETTINGS_FILE

    (tmp_path / SETTINGS_FILE).write_text('[keymap]\n"curation.approve" = 3\n', encoding="utf-8")
    with pytest.raises(LightdomError) as caught:
        load_settings(tmp_path)
    message = str(caught.value)
    assert "[keymap]" in message and "'curation.approve'" in message and "\n" not in message
