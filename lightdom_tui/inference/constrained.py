"""Constrained generation's one truncation policy.

A constrained answer cut off by the token cap (``finish_reason == "length"``) is
never parsed: it is asked again with twice the cap, up to ``MAX_TOKENS_CEILING``,
then :class:`TruncatedError`. Serving, evaluation, canaries and simulation all go
through :func:`complete_untruncated`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.inference.engine import ChatReply
from lightdom_tui.prompts import ATTRIBUTE_SCHEMA

MAX_TOKENS_CEILING = 2048
# The attribute request every path sends (serving, evaluation, canaries, simulation): a mild
# repeat penalty makes a small model less likely to repeat a name; the grammar fixes the shape.
REPEAT_PENALTY = 1.1
NAME_MAX_LENGTH = 48
DESCRIPTION_MAX_LENGTH = 160


class TruncatedError(LightdomError):
    """The answer was still cut off at the ceiling; it was not parsed."""


def complete_untruncated(
    call: Callable[[int], ChatReply],
    max_tokens: int,
    *,
    ceiling: int = MAX_TOKENS_CEILING,
    on_reply: Callable[[ChatReply], None] | None = None,
) -> ChatReply:
    """``call(cap)`` until its reply is not truncated, doubling ``cap`` each time (see the module docstring).

    ``on_reply`` sees every reply, truncated ones too (token accounting).
    """
    cap = max(1, max_tokens)
    while True:
        reply = call(cap)
        if on_reply is not None:
            on_reply(reply)
        if reply.finish_reason != "length":
            return reply
        if cap >= ceiling:
            raise TruncatedError(f"answer still truncated at max_tokens={cap}; not parsed")
        cap = min(cap * 2, ceiling)


def request_schema(count: int) -> dict[str, Any]:
    """The shared attribute schema, capped at ``count`` items and bounded string lengths
    (so a small model cannot run a string on forever)."""
    schema = copy.deepcopy(ATTRIBUTE_SCHEMA)
    attributes = schema["properties"]["attributes"]
    attributes["maxItems"] = max(1, count)
    item = attributes["items"]["properties"]
    item["name"]["maxLength"] = NAME_MAX_LENGTH
    # llama.cpp's converter drops maxLength when a pattern is given: the pattern itself must bound it
    item["name"]["pattern"] = f"^[a-z][a-z0-9_]{{0,{NAME_MAX_LENGTH - 1}}}$"
    item["description"]["maxLength"] = DESCRIPTION_MAX_LENGTH
    return schema
