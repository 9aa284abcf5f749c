"""The local llama.cpp engine of a workspace: a :class:`ChatEngine` over the inference core's pool.

Loading, batching and the one-scheduler-per-model rule live in
:mod:`lightdom_tui.inference.engine`; this module binds a pool to a workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.inference.engine import ChatReply, EnginePool, close_pools
from lightdom_tui.inference.engine import engine_pool as _pool_for

__all__ = ["EnginePool", "LocalEngine", "close_pools", "engine_pool"]


@dataclass
class LocalEngine:
    """A :class:`ChatEngine` bound to one version in a pool."""

    pool: EnginePool
    version: str
    path: Path

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
        """One chat completion on this engine's version."""
        return self.pool.chat(self.version, self.path, messages, max_tokens=max_tokens, temperature=temperature,
                              response_format=response_format, repeat_penalty=repeat_penalty,
                              unique_names=unique_names)


def engine_pool(ws: Any) -> EnginePool:
    """The process-wide pool of workspace ``ws`` (one per workspace root)."""
    return _pool_for(ws.root, ws.settings.serving)
