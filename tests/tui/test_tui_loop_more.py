"""More CLI features reachable from the TUI (issue 19): each driven from the keyboard, asserting the database
or file state the CLI command leaves (same use case underneath)."""

from __future__ import annotations

from sqlmodel import select

from lightdom_tui.db.models import ModelVersion
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def test_add_base_from_the_registry_pane(workspace, embedded_gguf) -> None:  # noqa: ANN001
    """A registers a local GGUF as a base version in place, as `models add-base PATH --name` does; an empty
    path is one line, nothing registered."""
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("A")
        await pilot.pause()
        await pilot.press("ctrl+s")  # no path
        await settle(pilot)
        assert any("path: give a Hugging Face model folder" in t for t in _messages(app))
        await pilot.press("A")
        await pilot.pause()
        app.screen.query_one("#form-path").value = str(embedded_gguf)
        app.screen.query_one("#form-name").value = "local-smol"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "registered local-smol: gguf llama" in _messages(app)
        assert "local-smol" in app.query_one("#versions").rows  # the refresh bus
    with workspace.session() as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.version == "local-smol")).one()
    assert (row.kind, row.format, row.architecture, row.quant) == ("base", "gguf", "llama", "q4_1")
    assert row.path == str(embedded_gguf.resolve())
