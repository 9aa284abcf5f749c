"""Attribute generation over any chat engine: constrained request, length retry, validation, one retry.

Steps for one request:
1. ask with ``response_format`` = the attribute JSON schema (llama.cpp turns it into
   a grammar; a remote API gets ``json_object``), names and descriptions capped in
   length so a small model cannot run a string on forever;
2. ``finish_reason == "length"`` → the inference core's truncation policy
   (:func:`~lightdom_tui.inference.constrained.complete_untruncated`): ask again with
   twice the token cap; a truncated answer is never parsed;
3. validate with :func:`prompts.validate_attribute_answer`; duplicate names are
   dropped (small base models repeat names) and, when that leaves fewer than asked
   for, the model is asked once for the remaining count, told the names it already gave;
4. an answer with no valid attribute gets one retry; then
   :class:`AttributeGenerationError` (the router falls back to the remote API).

A mild repeat penalty (``REPEAT_PENALTY``) is applied locally as well: it makes a
small model less likely to repeat a name, and the grammar still fixes the JSON shape.
The local decoder is also asked for ``unique_names``: it refuses the token that would
close a repeated name, so step 3's drop and follow-up are left for remote engines and
for the rare repeat it lets through (every alternative refused, ``VETO_TRIES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from lightdom_tui.errors import LightdomError
from lightdom_tui.inference.constrained import REPEAT_PENALTY, TruncatedError, complete_untruncated, request_schema
from lightdom_tui.inference.engine import ChatReply
from lightdom_tui.prompts import validate_attribute_answer

__all__ = ["REPEAT_PENALTY", "AttributeAnswer", "AttributeGenerationError", "ChatEngine", "ChatReply",
           "generate_with", "request_schema"]


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
        unique_names: bool = False,
    ) -> ChatReply:
        """One chat completion (``unique_names``: the decoder refuses a repeated JSON "name", where it can)."""
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


def _complete(engine: ChatEngine, messages: list[dict[str, Any]], max_tokens: int, temperature: float,
              schema: dict[str, Any], answer: AttributeAnswer) -> ChatReply:
    """One answer that was not cut off (the inference core's truncation policy)."""

    def call(cap: int) -> ChatReply:
        return engine.chat(messages, max_tokens=cap, temperature=temperature,
                           response_format={"type": "json_object", "schema": schema}, repeat_penalty=REPEAT_PENALTY,
                           unique_names=True)

    def count(reply: ChatReply) -> None:
        answer.calls += 1
        answer.prompt_tokens += reply.prompt_tokens
        answer.completion_tokens += reply.completion_tokens

    try:
        return complete_untruncated(call, max_tokens, on_reply=count)
    except TruncatedError as exc:
        raise AttributeGenerationError(str(exc)) from None


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
