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


def _scan(messages: list[dict[str, Any]]) -> tuple[int, bool, bool, int, int, int]:
    """One pass: (characters, has user, has system, tool calls, answered calls, calls with valid JSON args)."""
    chars = 0
    has_user = has_system = False
    call_ids: list[str] = []
    answered: set[str] = set()
    valid_args = 0
    for message in messages:
        role = message["role"]
        content = message.get("content")
        if content:
            chars += len(content)
            if role == "user":
                has_user = has_user or not content.isspace()
            elif role == "system":
                has_system = has_system or not content.isspace()
        if role == "tool":
            answered.add(message["tool_call_id"])
        calls = message.get("tool_calls")
        if calls:
            for call in calls:
                function = call["function"]
                chars += len(function["name"]) + len(function["arguments"])
                call_ids.append(call["id"])
                try:
                    valid_args += isinstance(json.loads(function["arguments"]), dict)
                except (ValueError, RecursionError):
                    pass
    paired = sum(1 for c in call_ids if c in answered)
    return chars, has_user, has_system, len(call_ids), paired, valid_args


def _tokens(chars: int, n_messages: int) -> int:
    return chars // CHARS_PER_TOKEN + 4 * n_messages


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Cheap token estimate used at ingest: characters / 4 plus 4 per message for the chat template."""
    return _tokens(_scan(messages)[0], len(messages))


def _parts(messages: list[dict[str, Any]], scan: tuple[int, bool, bool, int, int, int], tokens: int,
           context_tokens: int) -> dict[str, float]:
    _, has_user, has_system, calls, paired, valid_args = scan
    last = messages[-1]
    answer = (last.get("content") or "") if last["role"] == "assistant" else ""
    answer = answer.strip()
    if has_user and answer:
        completeness = 1.0
    elif has_user:
        completeness = 0.5
    else:
        completeness = 0.0
    size = len(answer)
    length = 1.0 if 2 <= size <= 4000 else 0.5 if 4000 < size <= 16000 else 0.0
    return {
        "completeness": completeness,
        "length": length,
        "system_prompt": 1.0 if has_system else 0.0,
        "tool_pairing": paired / calls if calls else 1.0,
        "tool_arguments": valid_args / calls if calls else 1.0,
        "context_budget": 1.0 if tokens <= context_tokens else 0.0,
    }


def score_parts(messages: list[dict[str, Any]], tokens: int, context_tokens: int) -> dict[str, float]:
    """Each rubric criterion in 0..1 (before weighting)."""
    return _parts(messages, _scan(messages), tokens, context_tokens)


def _weighted(parts: dict[str, float]) -> float:
    return round(sum(WEIGHTS[k] * v for k, v in parts.items()), 3)


def quality_score(messages: list[dict[str, Any]], tokens: int, context_tokens: int = 2048) -> float:
    """Weighted rubric score, rounded to 3 decimals."""
    return _weighted(score_parts(messages, tokens, context_tokens))


def assess(messages: list[dict[str, Any]], context_tokens: int = 2048) -> tuple[int, float]:
    """(estimated tokens, quality score) in one pass over the conversation (the ingest hot path)."""
    scan = _scan(messages)
    tokens = _tokens(scan[0], len(messages))
    return tokens, _weighted(_parts(messages, scan, tokens, context_tokens))
