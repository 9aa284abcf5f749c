"""Quality score 0..1 of one canonical example (rubric documented in docs/curation.md).

Weights (sum 1.0):
- completeness 0.30: a non-empty user turn and a final, non-empty assistant answer
  (0.15 when the conversation ends on a tool call or tool result without an answer);
- length 0.15: final answer of 2..4000 characters (half for 4000..16000, none outside);
- system prompt 0.10: a non-empty system message is present;
- tool pairing 0.20: share of tool calls answered by a tool message with the same id
  (full marks when no tools are used);
- tool arguments 0.10: share of tool calls whose arguments parse as a JSON object
  (full marks when no tools are used);
- context budget 0.15: estimated tokens within the base model's context.
"""

from __future__ import annotations

import json
from typing import Any

WEIGHTS = {
    "completeness": 0.30,
    "length": 0.15,
    "system_prompt": 0.10,
    "tool_pairing": 0.20,
    "tool_arguments": 0.10,
    "context_budget": 0.15,
}
CHARS_PER_TOKEN = 4  # the usual estimate for English/code; exact counts come at export


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Cheap token estimate used at ingest: characters / 4 plus 4 per message for the chat template."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if content:
            chars += len(content)
        for call in message.get("tool_calls") or ():
            chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return chars // CHARS_PER_TOKEN + 4 * len(messages)


def score_parts(messages: list[dict[str, Any]], tokens: int, context_tokens: int) -> dict[str, float]:
    """Each rubric criterion in 0..1 (before weighting)."""
    has_user = False
    has_system = False
    call_ids: list[str] = []
    answered: set[str] = set()
    valid_args = 0
    for message in messages:
        role = message["role"]
        if role == "user" and message["content"] and message["content"].strip():
            has_user = True
        elif role == "system" and message["content"] and message["content"].strip():
            has_system = True
        elif role == "tool":
            answered.add(message["tool_call_id"])
        for call in message.get("tool_calls") or ():
            call_ids.append(call["id"])
            try:
                valid_args += isinstance(json.loads(call["function"]["arguments"]), dict)
            except (ValueError, RecursionError):
                pass
    last = messages[-1]
    answer = (last.get("content") or "") if last["role"] == "assistant" else ""
    if has_user and answer.strip():
        completeness = 1.0
    elif has_user:
        completeness = 0.5
    else:
        completeness = 0.0
    size = len(answer.strip())
    length = 1.0 if 2 <= size <= 4000 else 0.5 if 4000 < size <= 16000 else 0.0
    if call_ids:
        pairing = sum(1 for c in call_ids if c in answered) / len(call_ids)
        arguments = valid_args / len(call_ids)
    else:
        pairing = arguments = 1.0
    return {
        "completeness": completeness,
        "length": length,
        "system_prompt": 1.0 if has_system else 0.0,
        "tool_pairing": pairing,
        "tool_arguments": arguments,
        "context_budget": 1.0 if tokens <= context_tokens else 0.0,
    }


def quality_score(messages: list[dict[str, Any]], tokens: int, context_tokens: int = 2048) -> float:
    """Weighted rubric score, rounded to 3 decimals."""
    parts = score_parts(messages, tokens, context_tokens)
    return round(sum(WEIGHTS[k] * v for k, v in parts.items()), 3)
