"""OpenAI chat-completions requests on a local model: parse, constrain, shape the answer.

- ``response_format``: ``json_schema`` (OpenAI's shape, ``strict`` or not), ``json_object``
  (with llama.cpp's ``schema`` too) and ``text``; a schema becomes a llama.cpp grammar, so
  the answer validates by construction (OpenAI's shape makes llama-cpp-python's own server
  answer 500).
- ``tools``: the tools are described in a system note and the answer is constrained to
  ``{"name": …, "arguments": {…}}`` for one of them (``tool_choice`` ``required`` or a
  named function), or additionally ``{"content": "…"}`` with ``auto``; the gateway turns
  that into ``tool_calls``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.errors import LightdomError

ROLES = ("system", "user", "assistant", "tool", "developer")


class RequestError(LightdomError):
    """The request body is invalid; the message names the field."""


@dataclass
class ChatRequest:
    """The fields of a chat-completions body the gateway honours."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    repeat_penalty: float = 1.0  # llama.cpp's extension (llama-cpp-python's server takes it too)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must follow, if any."""
        fmt = self.response_format or {}
        if fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema")
        if fmt.get("type") == "json_object":
            return fmt.get("schema")
        return None


def _number(body: dict[str, Any], key: str, kind: type, low: float, high: float) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise RequestError(f"{key}: expected a {kind.__name__}, got {value!r}")
    if not low <= value <= high:
        raise RequestError(f"{key}: {value} is outside {low:g}..{high:g}")
    return kind(value)


def _content_text(content: Any, where: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": …}] parts
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) != len(content):
            raise RequestError(f"{where}: only text content parts are supported")
        return "".join(t or "" for t in texts)
    raise RequestError(f"{where}: expected a string or a list of text parts")


def parse_request(body: Any) -> ChatRequest:
    """Validate a chat-completions body; :class:`RequestError` names the bad field."""
    if not isinstance(body, dict):
        raise RequestError("body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise RequestError("model: required (a version, an alias, task:TYPE or a route; see GET /v1/models)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: expected a non-empty list")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RequestError(f"messages[{i}].role: expected one of {', '.join(ROLES)}")
        item = dict(message)
        item["role"] = "system" if item["role"] == "developer" else item["role"]
        item["content"] = _content_text(message.get("content"), f"messages[{i}].content")
        clean.append(item)
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
        raise RequestError("stop: expected a string or up to 4 strings")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema")):
        raise RequestError("response_format.type: expected text, json_object or json_schema")
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and t.get("type") == "function" and isinstance((t.get("function") or {}).get("name"), str)
        for t in tools
    ):
        raise RequestError("tools: expected a list of {type: function, function: {name, parameters}}")
    options = body.get("stream_options") or {}
    max_tokens = _number(body, "max_completion_tokens", int, 1, 1 << 20) or _number(body, "max_tokens", int, 1, 1 << 20)
    user = body.get("user")
    return ChatRequest(
        model=model.strip(), messages=clean, stream=bool(body.get("stream")),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        temperature=_number(body, "temperature", float, 0, 2), top_p=_number(body, "top_p", float, 0, 1),
        max_tokens=max_tokens, stop=stop, seed=_number(body, "seed", int, -(1 << 63), 1 << 63),
        user=user if isinstance(user, str) and user else None, response_format=fmt, tools=tools,
        tool_choice=body.get("tool_choice"), repeat_penalty=_number(body, "repeat_penalty", float, 0, 4) or 1.0,
        raw=body,
    )


# -- tools ----------------------------------------------------------------------------------
def _chosen_tools(request: ChatRequest) -> tuple[list[dict[str, Any]], bool]:
    """(tools the answer may call, whether plain content is allowed too)."""
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return [], True
    functions = [t["function"] for t in request.tools]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        chosen = [f for f in functions if f["name"] == name]
        if not chosen:
            raise RequestError(f"tool_choice.function.name: {name!r} is not one of the tools")
        return chosen, False
    return functions, choice != "required"


def tool_schema(request: ChatRequest) -> dict[str, Any] | None:
    """The schema of an answer to a request with tools (None when tools are off)."""
    functions, content_allowed = _chosen_tools(request)
    if not functions:
        return None
    options: list[dict[str, Any]] = [
        {"type": "object", "properties": {"name": {"const": f["name"]},
                                          "arguments": f.get("parameters") or {"type": "object"}},
         "required": ["name", "arguments"]}
        for f in functions
    ]
    if content_allowed:
        options.append({"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]})
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The conversation as the model sees it: tools described up front, earlier tool calls as text."""
    functions, content_allowed = _chosen_tools(request)
    messages = []
    for message in request.messages:
        item = {"role": message["role"], "content": message.get("content") or ""}
        if message.get("tool_calls"):
            item["content"] = json.dumps([{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                                          for c in message["tool_calls"]], ensure_ascii=False)
        if message["role"] == "tool":
            item = {"role": "user", "content": f"Tool result: {message.get('content') or ''}"}
        messages.append(item)
    if functions:
        listing = "\n".join(json.dumps({"name": f["name"], "description": f.get("description", ""),
                                        "parameters": f.get("parameters") or {}}, ensure_ascii=False)
                            for f in functions)
        how = ('Answer with JSON: {"name": TOOL, "arguments": {...}} to call a tool'
               + (', or {"content": TEXT} to answer directly.' if content_allowed else "."))
        note = f"You can call these tools:\n{listing}\n{how}"
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{note}"}
        else:
            messages.insert(0, {"role": "system", "content": note})
    return messages


def answer_message(request: ChatRequest, text: str) -> dict[str, Any]:
    """The assistant message for ``text`` (a tool call when the model chose one)."""
    if tool_schema(request) is None:
        return {"role": "assistant", "content": text}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LightdomError(f"the model's tool answer is not JSON: {exc}") from None
    if isinstance(data, dict) and "name" in data:
        call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                "function": {"name": data["name"], "arguments": json.dumps(data.get("arguments") or {})}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"role": "assistant", "content": str(data.get("content", "")) if isinstance(data, dict) else text}


def check_schema(text: str, schema: dict[str, Any] | None) -> str | None:
    """Why ``text`` does not satisfy ``schema`` (None when it does or there is no schema)."""
    if schema is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        return f"does not match the schema: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"invalid schema: {exc.message}"
    return None


# -- responses ------------------------------------------------------------------------------
def usage_body(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """OpenAI's ``usage``: ``prompt_tokens_details.cached_tokens`` counts the prompt tokens not decoded again."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}}


def completion_body(call_id: str, model: str, message: dict[str, Any], finish_reason: str,
                    usage: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    if message.get("tool_calls"):
        finish_reason = "tool_calls"
    return {
        "id": call_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


def chunk(call_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
          usage: dict[str, Any] | None = None) -> str:
    """One SSE ``data:`` line of a ``chat.completion.chunk``."""
    body: dict[str, Any] = {"id": call_id, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": []}
    if usage is not None:
        body["usage"] = usage
    else:
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
