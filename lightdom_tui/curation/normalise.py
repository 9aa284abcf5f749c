"""Canonical chat form, validation of every field, and the hashes used for dedup.

Canonical messages are OpenAI-style dicts: ``role`` (system/user/assistant/tool),
``content`` (string, or ``None`` for an assistant turn that only calls tools),
``tool_calls`` (``[{"id", "type": "function", "function": {"name", "arguments": str}}]``),
``tool_call_id`` and ``name`` on tool messages. Serialised with sorted keys and no
spaces, so equal conversations give equal text and the same ``content_hash``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from lightdom_tui.curation.formats import RecordError

ROLES = ("system", "user", "assistant", "tool")
_ROLE_SET = frozenset(ROLES)
_SORT = orjson.OPT_SORT_KEYS


def _dumps(value: Any) -> str:
    """Compact JSON with sorted keys (orjson: UTF-8, no spaces; rejects lone surrogates)."""
    try:
        return orjson.dumps(value, option=_SORT).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise RecordError(f"cannot be serialised: {exc}") from None


def _content(value: Any, where: str, *, allow_none: bool) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            raise RecordError(f"{where}: contains a NUL byte")
        return value
    if value is None:
        if allow_none:
            return None
        raise RecordError(f"{where}: missing")
    if isinstance(value, list):  # OpenAI content parts: keep the text ones
        parts = []
        for index, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RecordError(f"{where}[{index}]: only text content parts are supported")
            parts.append(part["text"])
        return _content("".join(parts), where, allow_none=allow_none)
    raise RecordError(f"{where}: expected a string, got {type(value).__name__}")


def _check_arguments(text: str, where: str) -> None:
    """Tool-call arguments must be a JSON object: a model trained on anything else learns broken calls."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # the stdlib parser names the fault (and reads integers orjson cannot)
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError):
            raise RecordError(f"{where}: not valid JSON (a number or nesting beyond the limits)") from None
    if not isinstance(value, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(value).__name__}")


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RecordError(f"{where}: expected a non-empty list")
    calls = []
    for index, call in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(call, dict):
            raise RecordError(f"{at}: expected an object, got {type(call).__name__}")
        function = call.get("function")
        if not isinstance(function, dict):
            raise RecordError(f"{at}.function: missing or not an object")
        name = function.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RecordError(f"{at}.function.name: missing")
        arguments = function.get("arguments", "{}")
        if isinstance(arguments, (dict, list)):  # some logs store parsed arguments
            arguments = _dumps(arguments)
        elif not isinstance(arguments, str):
            raise RecordError(f"{at}.function.arguments: expected a JSON string, got {type(arguments).__name__}")
        _check_arguments(arguments, f"{at}.function.arguments")
        call_id = call.get("id")
        if call_id is None:
            call_id = f"call_{index}"
        elif not isinstance(call_id, str):
            raise RecordError(f"{at}.id: expected a string, got {type(call_id).__name__}")
        calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
    return calls


def canonical_messages(raw: list[Any]) -> list[dict[str, Any]]:
    """Validate raw messages and return them in canonical form (raises RecordError naming the field)."""
    if not raw:
        raise RecordError("messages: empty")
    out: list[dict[str, Any]] = []
    has_assistant = has_user = False
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RecordError(f"{where}: expected an object, got {type(message).__name__}")
        role = message.get("role")
        if role not in _ROLE_SET:
            raise RecordError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
        if role == "assistant":
            has_assistant = True
            calls = message.get("tool_calls")
            content = _content(message.get("content"), f"{where}.content", allow_none=bool(calls))
            item: dict[str, Any] = {"role": role, "content": content}
            if calls:
                item["tool_calls"] = _tool_calls(calls, f"{where}.tool_calls")
            out.append(item)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise RecordError(f"{where}: tool message without tool_call_id")
            content = message.get("content")
            if isinstance(content, (dict, list)) and not (
                isinstance(content, list) and content and isinstance(content[0], dict) and "type" in content[0]
            ):
                content = _dumps(content)  # tool results logged as objects
            item = {"role": role, "tool_call_id": call_id,
                    "content": _content(content, f"{where}.content", allow_none=False)}
            if isinstance(message.get("name"), str):
                item["name"] = message["name"]
            out.append(item)
        else:
            has_user = has_user or role == "user"
            out.append({"role": role, "content": _content(message.get("content"), f"{where}.content",
                                                          allow_none=False)})
    if not has_assistant:
        raise RecordError("messages: no assistant message (nothing to learn from)")
    if not has_user:
        raise RecordError("messages: no user message (nothing the answer responds to)")
    return out


def serialise_bytes(messages: list[dict[str, Any]]) -> bytes:
    """Canonical UTF-8 JSON of canonical messages (raises RecordError for invalid unicode)."""
    try:
        return orjson.dumps(messages, option=_SORT)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise RecordError(f"messages: cannot be stored: {exc}") from None


def serialise(messages: list[dict[str, Any]]) -> str:
    """Canonical JSON text of canonical messages (what ``messages_json`` stores)."""
    return serialise_bytes(messages).decode("utf-8")


def hash_bytes(data: bytes) -> str:
    """Exact-dedup key from canonical bytes: BLAKE2b-128 hex."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def content_hash(messages_json: str) -> str:
    """Exact-dedup key: BLAKE2b-128 of the canonical conversation text."""
    try:
        data = messages_json.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(f"messages: invalid unicode ({exc.reason} at offset {exc.start})") from None
    return hash_bytes(data)


def near_text(messages: list[dict[str, Any]]) -> str:
    """Conversation text with case and whitespace normalised (near-duplicate key source)."""
    pieces = []
    for message in messages:
        content = message.get("content")
        if content:
            pieces.append(content)
        for call in message.get("tool_calls") or ():
            pieces.append(call["function"]["name"])
            pieces.append(call["function"]["arguments"])
    return " ".join(" ".join(pieces).split()).lower()


def near_hash(text: str) -> str:
    """Near-duplicate key: BLAKE2b-64 of the normalised text."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
