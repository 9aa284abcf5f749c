"""Fixtures for the curation tests: JSONL writers and a small mixed corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def chat(user: str, answer: str, system: str | None = "You are a helpful data assistant.",
         **extra: Any) -> dict[str, Any]:
    """A plain chat record."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages, **extra}


def write_jsonl(path: Path, records: list[Any]) -> Path:
    """Write records (dicts are JSON-encoded, str/bytes written verbatim) one per line."""
    with open(path, "wb") as handle:
        for record in records:
            if isinstance(record, bytes):
                handle.write(record + b"\n")
            elif isinstance(record, str):
                handle.write(record.encode() + b"\n")
            else:
                handle.write(json.dumps(record).encode() + b"\n")
    return path


@pytest.fixture()
def ws(workspace):  # noqa: ANN001, ANN201 - the shared fixture
    """The shared fresh workspace."""
    return workspace


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """200 distinct chats over two task types with a few confidences."""
    records = []
    for i in range(200):
        kind = "attribute_generation" if i % 2 else "tool_use"
        records.append(chat(f"Question {i}: what is the price of item {i * 7}?", f"It costs {i}.99 EUR.",
                            task_type=kind, confidence=round((i % 10) / 10, 1)))
    return write_jsonl(tmp_path / "corpus.jsonl", records)
