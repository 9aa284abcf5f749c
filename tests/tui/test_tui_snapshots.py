"""SVG snapshots of each pane (and help) at 120x36 and at 80x24 on deterministic data.

Update after an intended change: ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from lightdom_tui.usecases import status
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle
from tests.tui.snapshot_data import seed_all

SIZE = (120, 36)


@pytest.fixture()
def snapshot_app(snapshot_workspace, monkeypatch):  # noqa: ANN001, ANN201
    """The app on the seeded fixed-path workspace; the GPU probe is pinned (it reads this machine's driver)."""
    monkeypatch.setattr(status, "detect_gpu", lambda: "no")
    seed_all(snapshot_workspace)
    return create_app(snapshot_workspace)


def _before(*keys: str):  # noqa: ANN202
    async def run(pilot) -> None:  # noqa: ANN001
        pilot.app.query_one("#status-bar")  # mounted
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.3)  # the conversation view renders once the cursor rests
        await settle(pilot)
        # A DataTable measures its columns when the app goes idle: rows a worker's message added in
        # the last settle were once captured at their header widths (the registry at 80x24, in the suite).
        await pilot.pause(0.1)

    return run


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("curation", ("j",)),
        ("training", ("2",)),
        ("registry", ("3",)),
        ("campaigns", ("4", "space", "down", "space", "down", "space", "down")),
        ("help", ("f1",)),
    ],
)
def test_pane_snapshot(name: str, keys: tuple[str, ...], snapshot_app, snap_compare) -> None:  # noqa: ANN001
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=_before(*keys))


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("curation", ("j",)),
        ("training", ("2",)),
        ("registry", ("3",)),
        ("campaigns", ("4", "space", "down", "space")),
    ],
)
def test_pane_snapshot_80x24(name: str, keys: tuple[str, ...], snapshot_app, snap_compare) -> None:  # noqa: ANN001
    """The smallest common terminal: the curation table keeps its message column, footers fit whole."""
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=_before(*keys))
