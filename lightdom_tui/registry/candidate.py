"""Side-effect-free generation with a candidate version, for evaluation and simulation.

Evaluating or replaying must not touch live data: no request log, no response cache,
no A/B outcome. GGUF versions therefore call the inference core's engine pool directly
(``inference.engine.engine_pool``: shared loaded models, one scheduler each) with the same
request the router sends first (schema from ``inference.constrained.request_schema``),
but once, without the router's repair retries: evaluation measures the raw model
(validity, duplicates), not the repaired answer. A truncated answer is retried with a
larger budget and never half-parsed (``inference.constrained``). Other formats are not
scored: through the router they would get the remote fallback's answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui import prompts
from lightdom_tui.db.models import ModelVersion
from lightdom_tui.fewshot import render_for_version
from lightdom_tui.prompts import (
    ATTRIBUTE_TASK,
    AttributeCheck,
    PromptConfig,
    validate_attribute_answer,
)
from lightdom_tui.workspace import Workspace


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
    unique_names: bool = False,
) -> Completion:
    """One chat completion constrained to ``schema`` (llama.cpp grammar) on the serving engine pool
    (``unique_names``: no JSON "name" value repeats, as attribute answers need).

    The pool shares loaded models (one lock each) with serving but logs nothing.
    GGUF versions only.
    """
    from lightdom_tui.inference.constrained import TruncatedError, complete_untruncated
    from lightdom_tui.inference.engine import engine_pool

    pool = engine_pool(workspace.root, workspace.settings.serving)
    started = time.perf_counter()

    def call(cap: int):  # noqa: ANN202
        return pool.chat(version.version, version.path, messages, max_tokens=cap,
                         temperature=workspace.settings.serving.temperature,
                         response_format={"type": "json_object", "schema": schema}, repeat_penalty=repeat_penalty,
                         unique_names=unique_names)

    try:
        reply = complete_untruncated(call, max_tokens or workspace.settings.serving.max_tokens)
    except TruncatedError as exc:
        return Completion(None, (time.perf_counter() - started) * 1000, error=str(exc))
    except Exception as exc:  # unreadable file or engine failure: a measured error, not a crash
        return Completion(None, (time.perf_counter() - started) * 1000, error=f"{type(exc).__name__}: {exc}")
    return Completion(text=reply.text, latency_ms=(time.perf_counter() - started) * 1000,
                      prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)


def version_prompts(version: ModelVersion, task_type: str = ATTRIBUTE_TASK) -> PromptConfig:
    """The prompt a version was trained with for ``task_type`` (the shared ``prompts.version_prompts``)."""
    return prompts.version_prompts(version, task_type)


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
        return _not_gguf(version, topic)
    from lightdom_tui.inference.constrained import REPEAT_PENALTY, request_schema  # the served request shape

    messages = render_for_version(workspace, topic, count, context, version_prompts(version))
    completion = complete_json(workspace, version, messages, request_schema(count), repeat_penalty=REPEAT_PENALTY,
                              unique_names=True)
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


def _not_gguf(version: ModelVersion, topic: str) -> AttributeGeneration:
    """Non-GGUF versions are not scored: the router would answer with another model (the remote fallback)."""
    error = f"model '{version.version}' is {version.format}, not GGUF: run `lightdom export {version.version}` first"
    return AttributeGeneration(topic, None, AttributeCheck(errors=[error]), 0.0, engine="none", error=error)
