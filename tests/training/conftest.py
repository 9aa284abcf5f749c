"""Training fixtures: a dataset version built from real Example rows, and the tiny base registered.

Uses the curation engine's ``add_example`` / ``build_dataset`` when they exist; until
then rows are written with SQLModel directly (same tables, same shape).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
}


def conversations(n: int, seed: int = 0, long_every: int = 0) -> list[list[dict[str, Any]]]:
    """``n`` varied chats (plain answers, a tool round trip, some long ones every ``long_every``)."""
    rng = random.Random(seed)
    words = "alpha beta gamma delta name price date color weight city title summary".split()
    chats = []
    for i in range(n):
        topic = " ".join(rng.choice(words) for _ in range(3))
        length = 120 if long_every and i % long_every == 0 else rng.randint(3, 12)
        answer = json.dumps({"attributes": [{"name": rng.choice(words), "type": "string",
                                              "description": " ".join(rng.choice(words) for _ in range(length))}]})
        chat = [{"role": "system", "content": "You design data attributes."},
                {"role": "user", "content": f"Topic: {topic} #{i}"},
                {"role": "assistant", "content": answer}]
        if i % 5 == 4:
            chat = [{"role": "user", "content": f"Weather for {topic} #{i}?"},
                    {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 12}'},
                    {"role": "assistant", "content": f"It is 12 degrees. {topic}"}]
        chats.append(chat)
    return chats


def make_dataset(workspace: Any, name: str, chats: list[list[dict[str, Any]]], n_validation: int = 0,
                 prompts: dict[str, Any] | None = None) -> int:
    """Write Example + Dataset + DatasetItem rows; the last ``n_validation`` chats are validation."""
    from lightdom_tui.db.models import Dataset, DatasetItem, Example

    with workspace.session() as session:
        ids = []
        for chat in chats:
            text = json.dumps(chat, sort_keys=True)
            example = Example(source="test", task_type="attribute_generation", status="approved",
                              messages_json=text, content_hash=hashlib.sha256(text.encode()).hexdigest())
            session.add(example)
            session.flush()
            ids.append(example.id)
        manifest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
        dataset = Dataset(name=name, version=1, manifest_hash=manifest, n_train=len(ids) - n_validation,
                          n_validation=n_validation, prompts_json=json.dumps(prompts or {}))
        session.add(dataset)
        session.flush()
        for position, example_id in enumerate(ids):
            split = "validation" if position >= len(ids) - n_validation else "train"
            session.add(DatasetItem(dataset_id=dataset.id, example_id=example_id, split=split))
        return int(dataset.id)


@pytest.fixture()
def tiny_base(workspace: Any, tiny_model_dir: Path) -> str:
    """The tiny random Llama registered as base version ``tiny-llama``."""
    from lightdom_tui.registry.versions import register_version

    with workspace.session() as session:
        register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir,
                         architecture="llama")
    return "tiny-llama"


@pytest.fixture()
def small_dataset(workspace: Any) -> str:
    """24 train + 6 validation chats, including tool calls."""
    make_dataset(workspace, "attrs", conversations(30, seed=1), n_validation=6,
                 prompts={"attribute_generation": {"system": "You design data attributes."}})
    return "attrs"
