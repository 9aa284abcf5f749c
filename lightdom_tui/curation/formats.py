"""Input formats → one canonical record (raw messages + task type + metadata).

Accepted shapes (detected from their keys):
- chat            ``{"messages": [...]}``
- instruction     ``{"instruction", "input"?, "output", "system"?}``
- completion      ``{"prompt", "completion"}``
- ShareGPT        ``{"conversations": [{"from", "value"}]}``
- LLM call log    ``{"task_type"?, "prompt" | "messages", "output", "model"?, "latency_ms"?,
                    "cost"?, "confidence"?, "decision"?}``

Any of them may carry ``metadata`` (source, quality_score, domain, task_type, tags …),
which is kept. Field-level checks of the messages happen in :mod:`normalise`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CALL_LOG_KEYS = ("model", "latency_ms", "cost", "decision")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "tool": "tool",
    "observation": "tool",
    "function_response": "tool",
    "function_call": "function_call",
}


class RecordError(ValueError):
    """A record that cannot be imported; the message names the field at fault."""


@dataclass
class ParsedRecord:
    """A record in any input format, reduced to raw chat messages plus its extras."""

    format: str
    messages: list[Any]
    task_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _output_text(value: Any, where: str) -> str:
    """Call-log outputs may be structured (attribute JSON): keep them as compact JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    raise RecordError(f"{where}: expected a string or JSON object, got {type(value).__name__}")


def _confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"confidence: expected a number, got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise RecordError(f"confidence: {value} is outside 0..1")
    return float(value)


def _sharegpt(turns: Any) -> list[dict[str, Any]]:
    if not isinstance(turns, list):
        raise RecordError(f"conversations: expected a list, got {type(turns).__name__}")
    messages: list[dict[str, Any]] = []
    pending_ids: list[str] = []
    for index, turn in enumerate(turns):
        where = f"conversations[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(f"{where}: expected an object, got {type(turn).__name__}")
        speaker = turn.get("from")
        if not isinstance(speaker, str) or speaker.lower() not in SHAREGPT_ROLES:
            raise RecordError(f"{where}.from: {speaker!r} is not one of {', '.join(sorted(SHAREGPT_ROLES))}")
        role = SHAREGPT_ROLES[speaker.lower()]
        value = _text(turn.get("value"), f"{where}.value")
        if role == "function_call":  # ShareGPT/glaive style: value is {"name", "arguments"}
            try:
                call = json.loads(value)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{where}.value: function call is not JSON: {exc.msg}") from None
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise RecordError(f"{where}.value: function call needs a \"name\"")
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
            call_id = f"call_{index}"
            pending_ids.append(call_id)
            messages.append({
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": call["name"], "arguments": arguments}}],
            })
        elif role == "tool":
            if not pending_ids:
                raise RecordError(f"{where}: tool observation without a preceding function call")
            messages.append({"role": "tool", "tool_call_id": pending_ids.pop(0), "content": value})
        else:
            messages.append({"role": role, "content": value})
    return messages


def _printable(text: str) -> str:
    """Text for a one-line reason: control characters (newlines, escapes) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def parse_record(obj: Any) -> ParsedRecord:
    """Detect the format of one decoded JSON value and reduce it to raw messages."""
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    metadata = obj.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise RecordError(f"metadata: expected an object, got {type(metadata).__name__}")
    metadata = dict(metadata)
    task_type = obj.get("task_type", metadata.get("task_type"))
    if task_type is not None and (not isinstance(task_type, str) or not task_type.strip()):
        raise RecordError(f"task_type: expected a non-empty string, got {task_type!r}")
    confidence = _confidence(obj.get("confidence", metadata.get("confidence")))

    if "output" in obj and ("prompt" in obj or "messages" in obj) and "instruction" not in obj:
        output = _output_text(obj["output"], "output")
        if "messages" in obj:
            messages = obj["messages"]
            if not isinstance(messages, list):
                raise RecordError(f"messages: expected a list, got {type(messages).__name__}")
            messages = list(messages)
        else:
            messages = [{"role": "user", "content": _text(obj["prompt"], "prompt")}]
            if isinstance(obj.get("system"), str):
                messages.insert(0, {"role": "system", "content": obj["system"]})
        messages.append({"role": "assistant", "content": output})
        for key in CALL_LOG_KEYS:
            if key in obj and obj[key] is not None:
                metadata.setdefault(key, obj[key])
        if "reason" in obj and obj["reason"] is not None:
            metadata.setdefault("reason", obj["reason"])
        return ParsedRecord("call_log", messages, task_type, metadata, confidence)
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list):
            raise RecordError(f"messages: expected a list, got {type(messages).__name__}")
        return ParsedRecord("chat", messages, task_type, metadata, confidence)
    if "conversations" in obj:
        return ParsedRecord("sharegpt", _sharegpt(obj["conversations"]), task_type, metadata, confidence)
    if "instruction" in obj:
        instruction = _text(obj["instruction"], "instruction")
        extra = obj.get("input") or ""
        extra = _text(extra, "input")
        if "output" not in obj:
            raise RecordError("output: missing (instruction records need instruction and output)")
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        messages: list[Any] = [{"role": "user", "content": user},
                               {"role": "assistant", "content": _output_text(obj["output"], "output")}]
        if isinstance(obj.get("system"), str) and obj["system"].strip():
            messages.insert(0, {"role": "system", "content": obj["system"]})
        return ParsedRecord("instruction", messages, task_type, metadata, confidence)
    if "prompt" in obj and "completion" in obj:
        messages = [{"role": "user", "content": _text(obj["prompt"], "prompt")},
                    {"role": "assistant", "content": _text(obj["completion"], "completion")}]
        return ParsedRecord("completion", messages, task_type, metadata, confidence)
    keys = ", ".join(_printable(key)[:40] for key in sorted(map(str, obj))[:8]) or "none"
    raise RecordError(
        "unknown format: expected messages, conversations, instruction+output, prompt+completion "
        f"or a call log (prompt|messages + output); keys: {keys}"
    )
