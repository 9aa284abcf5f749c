"""TUI test fixtures: real workspaces with deterministic rows, and a helper that waits for workers."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TASK_TYPES = ("attribute_generation", "tool_use")


def conversation(i: int) -> list[dict]:
    """A deterministic conversation with a tool call, a tool result and a JSON answer."""
    return [
        {"role": "system", "content": "You generate attributes for data streams."},
        {"role": "user", "content": f"Suggest attributes for topic {i}: product page"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": "fetch_sample", "arguments": json.dumps({"url": f"https://example.com/{i}"})}}]},
        {"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps({"title": f"Item {i}", "price": i})},
        {"role": "assistant", "content": json.dumps(
            {"attributes": [{"name": f"title_{i}", "type": "string", "description": "Product title"}]})},
    ]


def seed_examples(workspace, n: int) -> None:  # noqa: ANN001
    """Insert ``n`` examples through the curation service (alternating task types)."""
    from lightdom_tui.curation.examples import add_example

    with workspace.session() as session:
        for i in range(n):
            add_example(session, conversation(i), task_type=TASK_TYPES[i % 2], source="sample")


async def settle(pilot, rounds: int = 3) -> None:  # noqa: ANN001
    """Let queued messages run and every worker finish (twice: results start new workers)."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture()
def tui_workspace(workspace):  # noqa: ANN001, ANN201
    """The shared fresh workspace plus 60 deterministic examples."""
    seed_examples(workspace, 60)
    return workspace


@pytest.fixture()
def snapshot_workspace() -> Iterator:
    """A workspace at a fixed path (the path is on screen) with deterministic rows, for SVG snapshots."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.workspace import create_workspace

    root = Path(tempfile.gettempdir()) / "lightdom-tui-snapshot" / "ws"
    shutil.rmtree(root, ignore_errors=True)
    ws = create_workspace(root)
    register_embedded_model(ws)
    seed_examples(ws, 40)
    yield ws
    ws.close()
    shutil.rmtree(root, ignore_errors=True)
