"""Route one attribute-generation request: which model, which engine, cache, fallback, log.

1. ``registry.routing.choose_route`` picks the version (explicit > A/B > deployment >
   ``production``); with none, the embedded base ``smollm2-135m-instruct`` serves.
2. The request is rendered with that version's own prompts (``prompts_json`` for
   the task type; base models use the defaults).
3. A deterministic request (temperature 0) is answered from the response cache
   when it can be (engine ``cache``).
4. The local llama.cpp engine answers; on failure, or with no local GGUF to serve,
   the remote API answers when ``serving.fallback`` is on.
5. Every engine attempt writes a ``RequestLog`` row (a failed local attempt too,
   so monitoring sees its error rate); the result carries the final row's id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import RequestLog
from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
from lightdom_tui.fewshot import render_for_version
from lightdom_tui.prompts import ATTRIBUTE_TASK, PromptConfig, version_prompts
from lightdom_tui.registry.routing import choose_route
from lightdom_tui.registry.versions import find_version
from lightdom_tui.serving import cache
from lightdom_tui.serving.attributes import AttributeGenerationError, ChatEngine, generate_with
from lightdom_tui.serving.hooks import Served, check_alerts, record_ab_outcome
from lightdom_tui.workspace import Workspace


@dataclass
class GenerationResult:
    """Attributes and where they came from."""

    attributes: list[dict[str, Any]]
    model: str
    engine: str  # local / remote / cache
    latency_ms: float
    arm: str | None = None
    ab_test_id: int | None = None
    request_log_id: int | None = None
    deployment_id: int | None = None
    version_id: int | None = None
    fallback: bool = False
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0  # engine calls it took (length retries, validation retry, follow-up)
    local_error: str | None = None


@dataclass
class _Target:
    """A plain snapshot of the routed version (no ORM object crosses the session)."""

    version: str | None
    version_id: int | None
    path: Path | None
    format: str | None
    sha256: str | None
    prompts: dict[str, Any] = field(default_factory=dict)
    deployment_id: int | None = None
    ab_test_id: int | None = None
    arm: str | None = None
    request_key: str | None = None


def _route(ws: Workspace, task_type: str, request_key: str | None, model: str | None) -> _Target:
    with ws.session() as session:
        route = choose_route(session, task_type, request_key, model)
        version = route.version or find_version(session, EMBEDDED_VERSION)
        if version is None:
            return _Target(None, None, None, None, None, request_key=route.request_key)
        return _Target(
            version=version.version, version_id=version.id, path=Path(version.path), format=version.format,
            sha256=version.sha256, prompts=loads(version.prompts_json, {}) or {},
            deployment_id=route.deployment_id, ab_test_id=route.ab_test_id, arm=route.arm,
            request_key=route.request_key,
        )


def _prompts_for(prompts: dict[str, Any], task_type: str) -> PromptConfig:
    """The version's prompts (the one lookup every path shares: ``prompts.version_prompts``)."""
    return version_prompts(prompts, task_type)


def _log(ws: Workspace, task_type: str, target: _Target, **fields: Any) -> int:
    """Write the request's ``RequestLog`` row, then the after-request hooks (A/B outcome, monitoring)."""
    with ws.session() as session:
        row = RequestLog(
            task_type=task_type, deployment_id=target.deployment_id, ab_test_id=target.ab_test_id,
            arm=target.arm, request_key=target.request_key, **fields,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        served = Served(log_id=row.id, engine=row.engine, success=row.success, latency_ms=row.latency_ms,
                        deployment_id=target.deployment_id, ab_test_id=target.ab_test_id, arm=target.arm,
                        request_key=target.request_key)
        record_ab_outcome(session, served)
    check_alerts(ws, served)
    return served.log_id


def remote_engine(ws: Workspace) -> Any:
    """The configured remote engine with its key (env var, else keyring)."""
    from lightdom_tui.serving.remote import RemoteEngine
    from lightdom_tui.serving.secrets import get_api_key

    settings = ws.settings.serving
    return RemoteEngine(settings, api_key=get_api_key(settings.remote_provider, settings))


def _attempt(engine: ChatEngine, messages: list[dict[str, Any]], count: int, ws: Workspace):  # noqa: ANN202
    settings = ws.settings.serving
    return generate_with(
        engine, messages, count=count, max_tokens=settings.max_tokens, temperature=settings.temperature
    )


def generate_attributes(
    ws: Workspace,
    topic: str,
    *,
    count: int = 8,
    model: str | None = None,
    context: str | None = None,
    task_type: str = ATTRIBUTE_TASK,
    request_key: str | None = None,
) -> GenerationResult:
    """Generate ``count`` attributes for ``topic`` (see the module docstring for the steps)."""
    if not topic or not topic.strip():
        raise LightdomError("topic: empty")
    if count < 1:
        raise LightdomError(f"count: {count} must be at least 1")
    settings = ws.settings.serving
    target = _route(ws, task_type, request_key, model)
    messages = render_for_version(ws, topic, count, context, _prompts_for(target.prompts, task_type))
    params = {"count": count, "max_tokens": settings.max_tokens, "temperature": settings.temperature}
    local_error: str | None = None
    started = time.perf_counter()

    if target.version is not None and target.format == "gguf":
        key = cache.cache_key(f"{target.version}@{target.sha256}", messages, params)
        use_cache = cache.cacheable(params, settings.cache)
        if use_cache:
            with ws.session() as session:
                hit = cache.get_cached(session, key)
            if hit is not None:
                latency = (time.perf_counter() - started) * 1000
                log_id = _log(ws, task_type, target, engine="cache", version_id=target.version_id,
                              model_name=target.version, latency_ms=latency, cached=True)
                return GenerationResult(
                    attributes=hit["attributes"], model=target.version, engine="cache", latency_ms=latency,
                    arm=target.arm, ab_test_id=target.ab_test_id, request_log_id=log_id,
                    deployment_id=target.deployment_id, version_id=target.version_id, cached=True,
                )
        from lightdom_tui.serving.local import LocalEngine, engine_pool

        engine = LocalEngine(engine_pool(ws), target.version, target.path)  # type: ignore[arg-type]
        try:
            answer = _attempt(engine, messages, count, ws)
        except (LightdomError, RuntimeError, ValueError) as exc:
            local_error = str(exc)
            _log(ws, task_type, target, engine="local", version_id=target.version_id, model_name=target.version,
                 latency_ms=(time.perf_counter() - started) * 1000, success=False, error=local_error[:500])
        else:
            latency = (time.perf_counter() - started) * 1000
            if use_cache:
                with ws.session() as session:
                    cache.put_cached(session, key, target.version, {"attributes": answer.attributes})
            log_id = _log(ws, task_type, target, engine="local", version_id=target.version_id,
                          model_name=target.version, latency_ms=latency, prompt_tokens=answer.prompt_tokens,
                          completion_tokens=answer.completion_tokens)
            return GenerationResult(
                attributes=answer.attributes, model=target.version, engine="local", latency_ms=latency,
                arm=target.arm, ab_test_id=target.ab_test_id, request_log_id=log_id,
                deployment_id=target.deployment_id, version_id=target.version_id,
                prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                calls=answer.calls,
            )
    elif target.version is not None:
        local_error = f"model '{target.version}' is {target.format}, not GGUF: run `lightdom export {target.version}`"
    else:
        local_error = "no local model deployed and the embedded base is not registered"

    if not settings.fallback:
        raise LightdomError(f"generate '{topic}': {local_error} (remote fallback is off)")
    return _remote(ws, task_type, target, messages, count, started, local_error)


def _remote(
    ws: Workspace, task_type: str, target: _Target, messages: list[dict[str, Any]], count: int,
    started: float, local_error: str,
) -> GenerationResult:
    remote_started = time.perf_counter()
    settings = ws.settings.serving
    try:
        engine = remote_engine(ws)
        answer = _attempt(engine, messages, count, ws)
    except (LightdomError, AttributeGenerationError) as exc:
        _log(ws, task_type, target, engine="remote", model_name=settings.remote_model, fallback=True,
             latency_ms=(time.perf_counter() - remote_started) * 1000, success=False, error=str(exc)[:500])
        raise LightdomError(f"local engine failed ({local_error}); remote fallback failed: {exc}") from None
    latency = (time.perf_counter() - started) * 1000
    log_id = _log(ws, task_type, target, engine="remote", model_name=settings.remote_model, fallback=True,
                  latency_ms=latency, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens)
    return GenerationResult(
        attributes=answer.attributes, model=settings.remote_model, engine="remote", latency_ms=latency,
        arm=target.arm, ab_test_id=target.ab_test_id, request_log_id=log_id, deployment_id=target.deployment_id,
        fallback=True, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
        calls=answer.calls, local_error=local_error,
    )
