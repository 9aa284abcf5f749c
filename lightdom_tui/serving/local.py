"""The local llama.cpp engine: one loaded ``Llama`` per model version, one lock each.

A llama.cpp context is not thread-safe, so every call on a model holds that
model's lock. The pool keeps at most ``MAX_LOADED`` models (least recently used
is closed first) and reloads a version whose file changed on disk; an old model is
closed only after taking its lock, so a request in flight finishes first (safe
reload on deploy). ``verbose=False`` keeps llama.cpp quiet; the chat template is
the one inside the GGUF (llama-cpp-python reads ``tokenizer.chat_template``).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.serving.attributes import ChatReply
from lightdom_tui.settings import ServingSettings

MAX_LOADED = 2


@dataclass
class LoadedModel:
    """A loaded llama.cpp model and the lock that serialises calls on it."""

    version: str
    path: Path
    signature: tuple[int, int]  # (size, mtime_ns) of the file when loaded
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_at: float = field(default_factory=time.time)

    def close(self) -> None:
        """Free the model once no call is running on it."""
        with self.lock:
            if self.llama is not None:
                self.llama.close()
                self.llama = None


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def thread_count(settings: ServingSettings) -> int:
    """``n_threads`` from settings; 0 means every CPU core."""
    return settings.n_threads or os.cpu_count() or 1


class EnginePool:
    """Loaded models of one workspace, keyed by version name."""

    def __init__(self, settings: ServingSettings, max_loaded: int = MAX_LOADED) -> None:
        self.settings = settings
        self.max_loaded = max_loaded
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # guards the dict, never held while generating

    def _load(self, version: str, path: Path) -> LoadedModel:
        import llama_cpp

        if not path.is_file():
            raise LightdomError(f"model '{version}': file {path} is missing")
        try:
            llama = llama_cpp.Llama(
                str(path),
                n_ctx=self.settings.n_ctx,
                n_batch=self.settings.n_batch,
                n_threads=thread_count(self.settings),
                # llama.cpp's prompt pass otherwise takes every core, whatever n_threads says.
                n_threads_batch=thread_count(self.settings),
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise LightdomError(f"model '{version}': llama.cpp cannot load {path}: {exc}") from exc
        return LoadedModel(version=version, path=path, signature=_signature(path), llama=llama)

    def get(self, version: str, path: Path | str) -> LoadedModel:
        """The loaded model for ``version`` (loading, or reloading a changed file, as needed)."""
        path = Path(path)
        with self._lock:
            current = self._models.get(version)
            if current is not None and current.path == path and path.is_file() and current.signature == _signature(path):
                self._models.move_to_end(version)
                return current
        fresh = self._load(version, path)  # outside the pool lock: loading takes a while
        evicted: list[LoadedModel] = []
        with self._lock:
            old = self._models.pop(version, None)
            if old is not None:
                evicted.append(old)
            self._models[version] = fresh
            while len(self._models) > self.max_loaded:
                evicted.append(self._models.popitem(last=False)[1])
        for model in evicted:
            model.close()  # waits for a call in flight on it
        return fresh

    def drop(self, version: str) -> bool:
        """Unload ``version`` (e.g. after a rollback); False when it was not loaded."""
        with self._lock:
            model = self._models.pop(version, None)
        if model is None:
            return False
        model.close()
        return True

    def loaded(self) -> list[str]:
        """Versions currently loaded, least recently used first."""
        with self._lock:
            return list(self._models)

    def close(self) -> None:
        """Unload everything."""
        with self._lock:
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            model.close()

    def chat(
        self,
        version: str,
        path: Path | str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None = None,
        repeat_penalty: float = 1.0,
    ) -> ChatReply:
        """One chat completion on ``version`` under its lock."""
        model = self.get(version, path)
        with model.lock:
            if model.llama is None:  # closed by a reload between get() and here: take the new one
                return self.chat(version, path, messages, max_tokens=max_tokens, temperature=temperature,
                                 response_format=response_format, repeat_penalty=repeat_penalty)
            response = model.llama.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                repeat_penalty=repeat_penalty,
            )
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return ChatReply(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


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
    ) -> ChatReply:
        """One chat completion on this engine's version."""
        return self.pool.chat(self.version, self.path, messages, max_tokens=max_tokens, temperature=temperature,
                              response_format=response_format, repeat_penalty=repeat_penalty)


_POOLS: dict[Path, EnginePool] = {}
_POOLS_LOCK = threading.Lock()


def engine_pool(ws: Any) -> EnginePool:
    """The process-wide pool of workspace ``ws`` (one per workspace root)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(ws.root)
        if pool is None:
            pool = _POOLS[ws.root] = EnginePool(ws.settings.serving)
        else:
            pool.settings = ws.settings.serving
        return pool


def close_pools() -> None:
    """Unload every model of every workspace (at exit and in tests)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


# Free llama.cpp models while the interpreter is still whole: left to garbage collection at
# shutdown, a Llama's finaliser runs after llama_cpp's C bindings are torn down and raises.
atexit.register(close_pools)
