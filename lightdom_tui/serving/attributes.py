"""Attribute generation over any chat engine: constrained request, length retry, validation, one retry.

Steps for one request:
1. ask with ``response_format`` = the attribute JSON schema (llama.cpp turns it into
   a grammar; a remote API gets ``json_object``), names and descriptions capped in
   length so a small model cannot run a string on forever;
2. ``finish_reason == "length"`` → ask again with twice the token cap (up to
   ``MAX_TOKENS_CEILING``); a truncated answer is never parsed;
3. validate with :func:`prompts.validate_attribute_answer`; duplicate names are
   dropped (small base models repeat names) and, when that leaves fewer than asked
   for, the model is asked once for the remaining count, told the names it already gave;
4. an answer with no valid attribute gets one retry; then
   :class:`AttributeGenerationError` (the router falls back to the remote API).

A mild repeat penalty (``REPEAT_PENALTY``) is applied locally as well: it makes a
small model less likely to repeat a name, and the grammar still fixes the JSON shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_SCHEMA, validate_attribute_answer

REPEAT_PENALTY = 1.1
MAX_TOKENS_CEILING = 2048
NAME_MAX_LENGTH = 48
DESCRIPTION_MAX_LENGTH = 160


@dataclass
class ChatReply:
    """One chat completion, engine-independent."""

    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatEngine(Protocol):
    """What attribute generation needs from an engine (local llama.cpp or a remote API)."""

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None,
        repeat_penalty: float,
    ) -> ChatReply:
        """One chat completion."""
        ...


class AttributeGenerationError(LightdomError):
    """The engine gave no usable answer after the retries."""


@dataclass
class AttributeAnswer:
    """Validated attributes and what it took to get them."""

    attributes: list[dict[str, Any]]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    dropped: list[str] = field(default_factory=list)  # validation errors of dropped items


def request_schema(count: int) -> dict[str, Any]:
    """The shared attribute schema, capped at ``count`` items and bounded string lengths."""
    schema = copy.deepcopy(ATTRIBUTE_SCHEMA)
    attributes = schema["properties"]["attributes"]
    attributes["maxItems"] = max(1, count)
    item = attributes["items"]["properties"]
    item["name"]["maxLength"] = NAME_MAX_LENGTH
    item["description"]["maxLength"] = DESCRIPTION_MAX_LENGTH
    return schema


def _complete(engine: ChatEngine, messages: list[dict[str, Any]], max_tokens: int, temperature: float,
              schema: dict[str, Any], answer: AttributeAnswer) -> ChatReply:
    """One answer that was not cut off: retry with a doubled cap on finish_reason 'length'."""
    cap = max_tokens
    while True:
        reply = engine.chat(
            messages, max_tokens=cap, temperature=temperature,
            response_format={"type": "json_object", "schema": schema}, repeat_penalty=REPEAT_PENALTY,
        )
        answer.calls += 1
        answer.prompt_tokens += reply.prompt_tokens
        answer.completion_tokens += reply.completion_tokens
        if reply.finish_reason != "length":
            return reply
        if cap >= MAX_TOKENS_CEILING:
            raise AttributeGenerationError(f"answer still truncated at max_tokens={cap}; not parsed")
        cap = min(cap * 2, MAX_TOKENS_CEILING)


def _follow_up(messages: list[dict[str, Any]], have: list[str], remaining: int) -> list[dict[str, Any]]:
    note = f"\nAlready have: {', '.join(have)}. Give {remaining} different attributes."
    follow = [dict(m) for m in messages]
    follow[-1]["content"] = str(follow[-1]["content"]) + note
    return follow


def generate_with(
    engine: ChatEngine,
    messages: list[dict[str, Any]],
    *,
    count: int,
    max_tokens: int,
    temperature: float = 0.0,
) -> AttributeAnswer:
    """Run steps 1–4 of the module docstring against ``engine``."""
    schema = request_schema(count)
    answer = AttributeAnswer(attributes=[])
    last_errors: list[str] = []
    for _attempt in range(2):  # the first try and one retry
        check = validate_attribute_answer(_complete(engine, messages, max_tokens, temperature, schema, answer).text)
        if check.attributes:
            answer.attributes = check.attributes[:count]
            answer.dropped = check.errors
            break
        last_errors = check.errors or ["no attributes"]
    else:
        raise AttributeGenerationError(f"no valid attributes after a retry: {'; '.join(last_errors[:3])}")
    duplicates = any("duplicate" in e for e in answer.dropped)
    if duplicates and len(answer.attributes) < count:
        have = [a["name"] for a in answer.attributes]
        follow = _follow_up(messages, have, count - len(have))
        extra = validate_attribute_answer(_complete(engine, follow, max_tokens, temperature, schema, answer).text)
        for attribute in extra.attributes:
            if attribute["name"] not in have and len(answer.attributes) < count:
                answer.attributes.append(attribute)
                have.append(attribute["name"])
    return answer
