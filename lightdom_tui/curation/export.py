"""`lightdom dataset export`: write a version as OpenAI chat, Alpaca or ShareGPT JSONL.

One file per split (``train.jsonl``, ``validation.jsonl``), or per task type and split
with ``per_task_type``. PII is anonymised when the version was built with it (the
report says what was replaced); token counts come from the base model's tokenizer and
are written to ``manifest.json`` next to the data. Files are written to a temp name and
renamed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.curation.datasets import dataset_prompts, dataset_rows, get_dataset
from lightdom_tui.curation.pii import PiiReport
from lightdom_tui.curation.tokens import count_message_tokens
from lightdom_tui.db.jsoncol import loads
from lightdom_tui.errors import LightdomError
from lightdom_tui.safepath import inside, safe_filename
from lightdom_tui.workspace import Workspace

FORMATS = ("openai", "alpaca", "sharegpt")


@dataclass
class ExportFile:
    """One written file."""

    path: str
    split: str
    task_type: str | None
    records: int
    tokens: int | None
    max_tokens: int | None


@dataclass
class ExportResult:
    """What an export wrote."""

    dataset: str
    version: int
    format: str
    directory: str
    files: list[ExportFile] = field(default_factory=list)
    pii: dict[str, Any] = field(default_factory=dict)
    tokenizer: str | None = None
    over_context: int = 0


def to_openai(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenAI fine-tuning chat record (tool calls kept; null content only where OpenAI allows it)."""
    out = []
    for message in messages:
        item = {k: v for k, v in message.items() if v is not None or k == "content"}
        out.append(item)
    return {"messages": out}


def to_alpaca(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Alpaca record: last user turn → instruction, final answer → output, earlier pairs → history.

    Tool turns have no Alpaca form: they are folded into the history as text (lossy by design).
    """
    system = "\n".join(m["content"] for m in messages if m["role"] == "system" and m.get("content"))
    turns = [m for m in messages if m["role"] != "system"]
    last_user = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    instruction = turns[last_user]["content"] if last_user is not None else ""
    output = next((m.get("content") or "" for m in reversed(turns) if m["role"] == "assistant"), "")
    history: list[list[str]] = []
    pending_user: str | None = None
    for message in turns[: last_user or 0]:
        text = message.get("content") or json.dumps([c["function"] for c in message.get("tool_calls", [])])
        if message["role"] == "user":
            pending_user = text
        elif pending_user is not None:
            history.append([pending_user, text])
            pending_user = None
    record: dict[str, Any] = {"instruction": instruction, "input": "", "output": output}
    if system:
        record["system"] = system
    if history:
        record["history"] = history
    return record


def to_sharegpt(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """ShareGPT record with function_call / observation turns for tool use."""
    names = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}
    conversations = []
    for message in messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            if message.get("content"):
                conversations.append({"from": "gpt", "value": message["content"]})
            for call in message["tool_calls"]:
                value = json.dumps({"name": call["function"]["name"],
                                    "arguments": _maybe_json(call["function"]["arguments"])}, ensure_ascii=False)
                conversations.append({"from": "function_call", "value": value})
        else:
            conversations.append({"from": names[message["role"]], "value": message.get("content") or ""})
    return {"conversations": conversations}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


CONVERTERS = {"openai": to_openai, "alpaca": to_alpaca, "sharegpt": to_sharegpt}


def export_dataset(
    ws: Workspace,
    ref: str | int,
    out_dir: Path | str | None = None,
    *,
    format: str = "openai",  # noqa: A002 - the CLI option's name
    per_task_type: bool = False,
    token_counter: tuple[str, Callable[[str], int]] | None = None,
) -> ExportResult:
    """Write a dataset version to ``out_dir`` (default training_data/exports/NAME@VERSION).

    ``token_counter`` is (tokenizer's model version, text → tokens): the caller resolves the
    base model (``usecases.curation.export_dataset`` does), so curation never asks the registry.
    Without it the files carry no token counts.
    """
    if format not in FORMATS:
        raise LightdomError(f"--format {format!r}: must be one of {', '.join(FORMATS)}")
    report = PiiReport()
    with ws.session() as session:
        dataset = get_dataset(session, ref)
        rows = {split: dataset_rows(session, dataset.id, split, report=report) for split in ("train", "validation")}
    # The name and task types are data: safe_filename keeps them to one component, inside() to the folder.
    directory = Path(out_dir) if out_dir else inside(ws.exports_dir, f"{safe_filename(dataset.name)}@{dataset.version}")
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer, counter = token_counter if token_counter is not None else (None, None)
    convert = CONVERTERS[format]
    context = ws.settings.curation.context_tokens
    result = ExportResult(dataset.name, dataset.version, format, str(directory), tokenizer=tokenizer)
    groups: dict[tuple[str, str | None], list[tuple[Any, list[dict[str, Any]]]]] = {}
    for split, items in rows.items():
        for example, messages in items:
            key = (split, example.task_type if per_task_type else None)
            groups.setdefault(key, []).append((example, messages))
    per_record: list[dict[str, Any]] = []
    for (split, task_type), items in sorted(groups.items(), key=lambda kv: (kv[0][1] or "", kv[0][0])):
        name = f"{safe_filename(task_type)}_{split}.jsonl" if task_type else f"{split}.jsonl"
        path = inside(directory, name)
        tmp = path.with_suffix(".jsonl.tmp")
        total = 0
        biggest = 0
        with open(tmp, "w", encoding="utf-8") as handle:
            for example, messages in items:
                handle.write(json.dumps(convert(messages), ensure_ascii=False) + "\n")
                if counter is not None:
                    count = count_message_tokens(messages, counter)
                    total += count
                    biggest = max(biggest, count)
                    result.over_context += count > context
                    per_record.append({"example_id": example.id, "file": name, "tokens": count})
        os.replace(tmp, path)
        result.files.append(ExportFile(str(path), split, task_type, len(items),
                                       total if counter else None, biggest if counter else None))
    result.pii = report.to_dict()
    manifest = {
        "dataset": dataset.name, "version": dataset.version, "manifest_hash": dataset.manifest_hash,
        "format": format, "rules": loads(dataset.rules_json, {}), "prompts": dataset_prompts(dataset),
        "tokenizer": tokenizer, "context_tokens": context, "over_context": result.over_context,
        "pii": result.pii, "files": [f.__dict__ for f in result.files], "records": per_record,
    }
    tmp = directory / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, directory / "manifest.json")
    return result
