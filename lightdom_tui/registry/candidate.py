"""Side-effect-free generation with a candidate version, for evaluation and simulation.

Evaluating or replaying must not touch live data: no request log, no response cache,
no A/B outcome. GGUF versions are therefore run here directly with llama.cpp
(``verbose=False``, one lock per loaded model, JSON-schema constrained output, a
truncated answer retried with a larger budget and never half-parsed). Other formats
go through ``serving.router.generate_attributes(ws, topic, model=ref)``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import ModelVersion
from lightdom_tui.prompts import (
    ATTRIBUTE_SCHEMA,
    ATTRIBUTE_TASK,
    AttributeCheck,
    PromptConfig,
    render_attribute_messages,
    validate_attribute_answer,
)
from lightdom_tui.workspace import Workspace

MAX_LOADED = 2  # evaluation compares two versions; more would only hold memory
LENGTH_RETRIES = 2


@dataclass
class Completion:
    """One constrained completion."""

    text: str | None
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second of wall time."""
        if not self.completion_tokens or self.latency_ms <= 0:
            return None
        return self.completion_tokens / (self.latency_ms / 1000)


@dataclass
class AttributeGeneration:
    """Attributes a candidate produced for one topic."""

    topic: str
    text: str | None
    check: AttributeCheck
    latency_ms: float
    completion_tokens: int = 0
    engine: str = "local"
    error: str | None = None
    names: list[str] = field(default_factory=list)  # raw names in answer order, duplicates kept

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second."""
        if not self.completion_tokens or self.latency_ms <= 0:
            return None
        return self.completion_tokens / (self.latency_ms / 1000)


class _Loaded:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.lock = threading.Lock()  # llama.cpp contexts are not thread-safe


_MODELS: OrderedDict[str, _Loaded] = OrderedDict()
_MODELS_LOCK = threading.Lock()


def _threads(workspace: Workspace) -> int:
    return workspace.settings.serving.n_threads or os.cpu_count() or 1


def _model(workspace: Workspace, version: ModelVersion) -> _Loaded:
    """The loaded llama.cpp model of a GGUF version (kept for reuse; oldest closed beyond MAX_LOADED)."""
    key = f"{version.path}:{version.sha256}"
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        from llama_cpp import Llama  # lazy: native library

        threads = _threads(workspace)
        model = Llama(
            version.path,
            n_ctx=workspace.settings.serving.n_ctx,
            n_batch=workspace.settings.serving.n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        _MODELS[key] = _Loaded(model)
        while len(_MODELS) > MAX_LOADED:
            _, old = _MODELS.popitem(last=False)
            with old.lock:
                old.model.close()
        return _MODELS[key]


def close_models() -> None:
    """Close every model this module loaded (tests and long-lived processes call this)."""
    with _MODELS_LOCK:
        while _MODELS:
            _, old = _MODELS.popitem()
            with old.lock:
                old.model.close()


def complete_json(
    workspace: Workspace,
    version: ModelVersion,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    *,
    max_tokens: int | None = None,
) -> Completion:
    """A chat completion constrained to ``schema`` by llama.cpp's grammar (GGUF versions only)."""
    budget = max_tokens or workspace.settings.serving.max_tokens
    started = time.perf_counter()
    try:
        loaded = _model(workspace, version)
    except Exception as exc:  # unreadable file: an error result, not a crash
        return Completion(None, (time.perf_counter() - started) * 1000, error=f"load failed: {exc}")
    for _ in range(LENGTH_RETRIES + 1):
        with loaded.lock:
            response = loaded.model.create_chat_completion(
                messages=messages,
                response_format={"type": "json_object", "schema": schema},
                temperature=workspace.settings.serving.temperature,
                max_tokens=budget,
            )
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        if choice.get("finish_reason") != "length":
            return Completion(
                text=choice["message"].get("content") or "",
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        budget *= 2  # truncated: retry with room, never parse half an answer
    return Completion(None, (time.perf_counter() - started) * 1000, error=f"truncated after {budget // 2} tokens")


def version_prompts(version: ModelVersion, task_type: str = ATTRIBUTE_TASK) -> PromptConfig:
    """The prompt a version was trained with for ``task_type`` (the product default for base models)."""
    return PromptConfig.from_dict(loads(version.prompts_json, {}).get(task_type))


def raw_names(text: str | None) -> list[str]:
    """Every attribute name of an answer as written, duplicates included (for the duplicate rate)."""
    try:
        data = json.loads(text or "")
    except (json.JSONDecodeError, TypeError):
        return []
    items = data.get("attributes") if isinstance(data, dict) else None
    return [i["name"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("name"), str)]


def generate_attributes_for(
    workspace: Workspace, version: ModelVersion, topic: str, *, count: int = 8, context: str | None = None
) -> AttributeGeneration:
    """Attributes for ``topic`` from ``version`` without logging, caching or routing side effects."""
    if version.format != "gguf":
        return _through_router(workspace, version, topic, count, context)
    messages = render_attribute_messages(topic, count, context, version_prompts(version))
    completion = complete_json(workspace, version, messages, ATTRIBUTE_SCHEMA)
    if completion.text is None:
        check = AttributeCheck(errors=[completion.error or "no answer"])
        return AttributeGeneration(topic, None, check, completion.latency_ms, error=completion.error)
    return AttributeGeneration(
        topic=topic,
        text=completion.text,
        check=validate_attribute_answer(completion.text),
        latency_ms=completion.latency_ms,
        completion_tokens=completion.completion_tokens,
        names=raw_names(completion.text),
    )


def _through_router(
    workspace: Workspace, version: ModelVersion, topic: str, count: int, context: str | None
) -> AttributeGeneration:
    """Non-GGUF versions: the serving router (it loads HF folders / adapters its own way)."""
    from lightdom_tui.serving.router import generate_attributes  # lazy: the serving stack

    started = time.perf_counter()
    try:
        result = generate_attributes(workspace, topic, count=count, model=version.version, context=context)
    except Exception as exc:  # a failed generation is a measured failure, not a crash
        check = AttributeCheck(errors=[f"{type(exc).__name__}: {exc}"])
        return AttributeGeneration(topic, None, check, (time.perf_counter() - started) * 1000,
                                   engine="router", error=str(exc))
    attributes = list(getattr(result, "attributes", []) or [])
    text = json.dumps({"attributes": attributes})
    return AttributeGeneration(
        topic=topic,
        text=text,
        check=validate_attribute_answer(text),
        latency_ms=float(getattr(result, "latency_ms", (time.perf_counter() - started) * 1000)),
        engine=str(getattr(result, "engine", "router")),
        names=[a.get("name") for a in attributes if isinstance(a, dict)],
    )
