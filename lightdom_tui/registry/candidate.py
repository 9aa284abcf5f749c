"""Side-effect-free generation with a candidate version, for evaluation and simulation.

Evaluating or replaying must not touch live data: no request log, no response cache,
no A/B outcome. GGUF versions therefore call the serving engine pool directly
(``serving.local.engine_pool``: shared loaded models, one lock each) with the same
request the router sends first (schema from ``serving.attributes.request_schema``),
but once, without the router's repair retries: evaluation measures the raw model
(validity, duplicates), not the repaired answer. A truncated answer is retried with a
larger budget and never half-parsed. Other formats go through
``serving.router.generate_attributes(ws, topic, model=ref)``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import ModelVersion
from lightdom_tui.prompts import (
    ATTRIBUTE_TASK,
    AttributeCheck,
    PromptConfig,
    render_attribute_messages,
    validate_attribute_answer,
)
from lightdom_tui.workspace import Workspace

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


def complete_json(
    workspace: Workspace,
    version: ModelVersion,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    *,
    max_tokens: int | None = None,
    repeat_penalty: float = 1.0,
) -> Completion:
    """One chat completion constrained to ``schema`` (llama.cpp grammar) on the serving engine pool.

    The pool shares loaded models (one lock each) with serving but logs nothing.
    GGUF versions only.
    """
    from lightdom_tui.serving.local import engine_pool  # lazy: loads llama.cpp

    budget = max_tokens or workspace.settings.serving.max_tokens
    pool = engine_pool(workspace)
    started = time.perf_counter()
    for _ in range(LENGTH_RETRIES + 1):
        try:
            reply = pool.chat(
                version.version,
                version.path,
                messages,
                max_tokens=budget,
                temperature=workspace.settings.serving.temperature,
                response_format={"type": "json_object", "schema": schema},
                repeat_penalty=repeat_penalty,
            )
        except Exception as exc:  # unreadable file or engine failure: a measured error, not a crash
            return Completion(None, (time.perf_counter() - started) * 1000, error=f"{type(exc).__name__}: {exc}")
        if reply.finish_reason != "length":
            return Completion(
                text=reply.text,
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
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
    from lightdom_tui.serving.attributes import REPEAT_PENALTY, request_schema  # the served request shape

    messages = render_attribute_messages(topic, count, context, version_prompts(version))
    completion = complete_json(workspace, version, messages, request_schema(count), repeat_penalty=REPEAT_PENALTY)
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
