"""TUI test fixtures: real workspaces with deterministic rows, and a helper that waits for workers."""

from __future__ import annotations

import json
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


SNAPSHOT_ROOT = Path("lightdom-tui-snapshot") / "ws"


@pytest.fixture()
def snapshot_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A workspace with deterministic rows, for SVG snapshots, in this test's own temp folder.

    The path is on screen, so the app gets it relative to the temp folder (the working
    directory for the test): the same text on every run, and two runs never share files.
    """
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.workspace import Workspace, create_workspace

    created = create_workspace(tmp_path / SNAPSHOT_ROOT)
    register_embedded_model(created)
    seed_examples(created, 40)
    created.close()
    monkeypatch.chdir(tmp_path)
    ws = Workspace(root=SNAPSHOT_ROOT, settings=created.settings)
    yield ws
    ws.close()
