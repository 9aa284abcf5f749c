"""Export the README screenshots (SVG, by Textual) of the four panes on the snapshot tests' data.

Run from the repository root: ``.venv/bin/python docs/screenshots/make_screenshots.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
SHOTS = {
    "curation": ("j",),
    "training": ("2",),
    "registry": ("3",),
    "campaigns": ("4", "space", "down", "space", "down", "space", "down"),
    "help": ("f1",),
}


async def shoot(name: str, keys: tuple[str, ...]) -> Path:
    """One screenshot on a fresh seeded workspace."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.usecases import status
    from lightdom_tui.tui.app import create_app
    from lightdom_tui.workspace import create_workspace
    from tests.tui.conftest import settle
    from tests.tui.snapshot_data import seed_all

    status.detect_gpu = lambda: "no"  # screenshots must not depend on the machine that made them
    root = Path(tempfile.gettempdir()) / "lightdom-tui-snapshot" / "ws"
    shutil.rmtree(root, ignore_errors=True)
    workspace = create_workspace(root)
    register_embedded_model(workspace)
    seed_all(workspace)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.3)
        await settle(pilot)
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(OUT)))
    workspace.close()
    shutil.rmtree(root, ignore_errors=True)
    return path


def main() -> None:
    """Write docs/screenshots/<pane>.svg."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name, keys in SHOTS.items():
        print(asyncio.run(shoot(name, keys)))


if __name__ == "__main__":
    main()
