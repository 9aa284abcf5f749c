"""Helpers shared by the training tests: varied chats and a dataset version built from real rows.

Rows are written with SQLModel directly (Example, Dataset, DatasetItem: the same tables
the curation engine fills).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

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


