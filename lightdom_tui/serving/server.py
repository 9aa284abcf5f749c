"""`lightdom serve`: the OpenAI-compatible gateway (FastAPI on uvicorn).

One request: authenticate (keys needed off loopback) → resolve ``model`` to a
target (``serving.targets``: version, alias, ``task:TYPE`` with A/B arm and
deployment, or a remote route) → the inference core decodes it, batched with the
other requests on that model → validate constrained output → on local failure,
timeout or invalid output, the remote fallback (``serving.fallback``) → answer →
the call is logged after the answer (``serving.calllog``).

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``POST /v1/feedback``,
``GET /health``, ``GET /metrics``.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from lightdom_tui.errors import LightdomError
from lightdom_tui.inference.constrained import complete_untruncated
from lightdom_tui.inference.engine import ChatReply
from lightdom_tui.serving.calllog import CANCELLED, CallLogger, CallRecord
from lightdom_tui.serving.gatewaykeys import check_key, is_loopback, keys_stamp, load_keys
from lightdom_tui.serving.metrics import Metrics
from lightdom_tui.serving.openai_chat import (
    ChatRequest,
    RequestError,
    answer_message,
    check_schema,
    chunk,
    completion_body,
    parse_request,
    tool_messages,
    tool_schema,
    usage_body,
)
from lightdom_tui.serving.targets import Target, UnknownModel, list_models, resolve
from lightdom_tui.workspace import Workspace

HOST = "127.0.0.1"
USER_HEADER = "x-lightdom-user"
OPENAI_DEFAULT_TEMPERATURE = 1.0
STREAM_TICK_S = 0.25  # a call waiting for its next token (or its whole answer) looks this often whether its client is still there


class GatewayError(LightdomError):
    """A request the gateway answers with an HTTP error."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


class ClientGone(LightdomError):
    """The client of a call went away; its decoding was stopped (no fallback, nothing to answer)."""

    def __init__(self, message: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        super().__init__(message)
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens  # spent before it stopped


@dataclass
class Answer:
    """A finished answer from one engine."""

    message: dict[str, Any]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    engine: str
    model: str
    confidence: float | None = None
    cached_tokens: int = 0  # prompt tokens reused from the local model's KV cache

    def usage(self) -> dict[str, Any]:
        """The OpenAI ``usage`` object of this answer."""
        return usage_body(self.prompt_tokens, self.completion_tokens, self.cached_tokens)


class Gateway:
    """The state of one running gateway: workspace, engines, call log, metrics, keys."""

    def __init__(self, ws: Workspace, host: str = HOST) -> None:
        from lightdom_tui.serving.local import engine_pool

        self.ws = ws
        self.host = host
        self.require_key = not is_loopback(host)
        self.keys = load_keys(ws.root)
        self._keys_stamp = keys_stamp(ws.root)
        if self.require_key and not self.keys:
            raise LightdomError(
                f"serve --host {host}: a non-loopback address needs gateway API keys "
                "(lightdom keys gateway add NAME), or bind 127.0.0.1"
            )
        self.pool = engine_pool(ws)
        self.log = CallLogger(ws)
        self.metrics = Metrics()

    def authorised(self, authorization: str | None) -> bool:
        """Whether a request may proceed (always on loopback; else a valid ``Bearer`` key).

        The key file is re-read when it changes, so a revoked key stops working at once.
        """
        if not self.require_key:
            return True
        stamp = keys_stamp(self.ws.root)
        if stamp != self._keys_stamp:
            self.keys, self._keys_stamp = load_keys(self.ws.root), stamp
        token = (authorization or "").removeprefix("Bearer ").strip()
        return check_key(self.keys, token) is not None

    # -- engines ------------------------------------------------------------------------------
    def _local_plan(self, request: ChatRequest) -> tuple[list[dict[str, Any]], str | None, dict[str, Any] | None]:
        """(messages as the model sees them, grammar, schema the answer must follow)."""
        from lightdom_tui.inference.engine import grammar_for

        tools = tool_schema(request)
        if tools is not None:
            fmt = {"type": "json_object", "schema": tools}
            return tool_messages(request), grammar_for(fmt), tools
        messages = [{"role": m["role"], "content": m.get("content") or ""} for m in request.messages]
        if any(m.get("tool_calls") or m["role"] == "tool" for m in request.messages):
            messages = tool_messages(request)
        try:
            grammar = grammar_for(request.response_format)
        except LightdomError as exc:
            raise GatewayError(400, str(exc)) from None
        return messages, grammar, request.schema

    def _local(self, target: Target, request: ChatRequest, on_text: Any = None,
               cancel: threading.Event | None = None) -> Answer:
        """Decode on the local model.

        A constrained answer cut off by the gateway's own cap follows the core's truncation
        policy (asked again with more room, never half-parsed); a cap the client set is the
        client's: the answer comes back with ``finish_reason`` "length", as OpenAI does.
        Setting ``cancel`` (the call's client went away) stops the decoding and frees
        its sequence for other requests; the call ends in :class:`ClientGone`.
        """
        if target.path is None:
            raise LightdomError(target.note or "no local model")
        settings = self.ws.settings.serving
        model = self.pool.get(target.version or target.model, target.path)
        messages, grammar, schema = self._local_plan(request)
        temperature = request.temperature if request.temperature is not None else OPENAI_DEFAULT_TEMPERATURE
        tools = tool_schema(request) is not None
        stream_to = None if tools else on_text  # a tool call is parsed whole
        spent = {"completion": 0}

        def call(cap: int) -> ChatReply:
            job = model.submit(messages, max_tokens=cap, temperature=temperature, top_p=request.top_p or 0.95,
                               seed=request.seed, stop=request.stop, grammar=grammar, on_text=stream_to,
                               repeat_penalty=request.repeat_penalty, cancel=cancel)
            try:
                generation = job.future.result(timeout=settings.local_timeout_s)
            except FutureTimeout:
                job.cancel()
                raise LightdomError(f"no local answer within {settings.local_timeout_s:g} s") from None
            except FutureCancelled:  # cancelled before it was admitted
                raise ClientGone(f"{CANCELLED} the client disconnected before decoding began") from None
            spent["completion"] += generation.completion_tokens
            if generation.finish_reason == "cancelled":
                raise ClientGone(f"{CANCELLED} the client disconnected after {spent['completion']} tokens",
                                 generation.prompt_tokens, spent["completion"])
            return ChatReply(generation.text, generation.finish_reason, generation.prompt_tokens,
                             generation.completion_tokens, generation.confidence, generation.cached_tokens)

        if grammar is None or stream_to is not None or request.max_tokens is not None:
            reply = call(request.max_tokens or settings.max_tokens)
        else:
            reply = complete_untruncated(call, settings.max_tokens)  # TruncatedError: the fallback answers
        if reply.finish_reason == "length" and grammar is not None:
            if tools:
                raise LightdomError(f"tool call cut off at max_tokens={request.max_tokens}")
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}  # the client's cap: not validated
        else:
            problem = check_schema(reply.text, schema)
            if problem is not None:
                raise LightdomError(f"local answer {problem}")
            message = answer_message(request, reply.text)
        return Answer(message, reply.finish_reason or "stop", reply.prompt_tokens, spent["completion"], "local",
                      target.model, reply.confidence, reply.cached_tokens)

    def _remote(self, request: ChatRequest, *, url: str | None, model: str, require_key: bool) -> Answer:
        """Forward the request body to an OpenAI-compatible endpoint."""
        from lightdom_tui.serving.remote import RemoteEngine
        from lightdom_tui.serving.secrets import get_api_key

        settings = self.ws.settings.serving
        key = get_api_key(settings.remote_provider, settings)  # a route may do without; the fallback may not
        payload = {k: v for k, v in request.raw.items()
                   if k not in ("stream", "stream_options", "user", "repeat_penalty")}
        payload["model"] = model
        data = RemoteEngine(settings, api_key=key).forward(payload, base_url=url, require_key=require_key)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        message = {k: v for k, v in choice["message"].items() if k in ("role", "content", "tool_calls")}
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else 0
        return Answer(message, choice.get("finish_reason") or "stop", int(usage.get("prompt_tokens") or 0),
                      int(usage.get("completion_tokens") or 0), "remote", data.get("model") or model,
                      cached_tokens=cached if isinstance(cached, int) and cached >= 0 else 0)

    def answer(self, target: Target, request: ChatRequest, on_text: Any = None,
               cancel: threading.Event | None = None) -> tuple[Answer, str | None]:
        """(answer, local error that caused a fallback); ``cancel`` as in :meth:`_local`."""
        settings = self.ws.settings.serving
        if target.engine == "remote":
            try:
                answer = self._remote(request, url=target.remote_url, model=target.remote_model or target.model,
                                      require_key=False)
            except LightdomError as exc:
                raise GatewayError(502, f"route {target.model!r}: {exc}", "server_error") from None
            return answer, None
        try:
            return self._local(target, request, on_text, cancel), None
        except (GatewayError, ClientGone):
            raise
        except Exception as exc:  # any local failure may fall back; the reason is logged
            local_error = str(exc) or type(exc).__name__
        if not settings.fallback:
            raise GatewayError(503, f"local engine failed: {local_error} (remote fallback is off)", "server_error")
        try:
            answer = self._remote(request, url=None, model=settings.remote_model, require_key=True)
        except LightdomError as exc:
            raise GatewayError(502, f"local engine failed ({local_error}); remote fallback failed: {exc}",
                               "server_error") from None
        return answer, local_error

    # -- one request --------------------------------------------------------------------------
    def _target(self, request: ChatRequest, user_header: str | None) -> Target:
        try:
            target = resolve(self.ws, request.model, request.user or user_header)
        except UnknownModel as exc:
            raise GatewayError(404, str(exc), "model_not_found") from None
        self.metrics.started()  # every resolved request ends in _record
        return target

    def _record(self, call_id: str, target: Target, request: ChatRequest, started: float, answer: Answer | None,
                local_error: str | None, error: str | None = None, *, gone: ClientGone | None = None) -> None:
        """Count the call in the metrics and queue its log line (``gone``: cancelled, no failure of the model)."""
        latency = (time.perf_counter() - started) * 1000
        engine = answer.engine if answer else ("remote" if target.engine == "remote" else "local")
        record = CallRecord(
            call_id=call_id, task_type=target.task_type, engine=engine, model=target.model,
            messages=request.messages, answer=answer.message if answer else None, latency_ms=latency,
            version=target.version if engine == "local" else (answer.model if answer else target.remote_model),
            version_id=target.version_id if engine == "local" else None, deployment_id=target.deployment_id,
            ab_test_id=target.ab_test_id, arm=target.arm, request_key=target.request_key,
            prompt_tokens=answer.prompt_tokens if answer else gone.prompt_tokens if gone else 0,
            completion_tokens=answer.completion_tokens if answer else gone.completion_tokens if gone else 0,
            finish_reason=answer.finish_reason if answer else None, confidence=answer.confidence if answer else None,
            fallback=local_error is not None and answer is not None, success=answer is not None or gone is not None,
            error=error or local_error, cancelled=gone is not None,
        )
        status = "ok" if answer else "cancelled" if gone else "error"
        self.metrics.observe(version=record.version, arm=target.arm, engine=engine,
                             status=status, latency_s=latency / 1000,
                             prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
                             fallback=record.fallback)
        self.log.submit(record)

    def complete(self, request: ChatRequest, user_header: str | None,
                 cancel: threading.Event | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        """A non-streamed chat completion and the headers saying who answered.

        Setting ``cancel`` (the client went away) stops the decoding; the call is logged as
        cancelled and ends in :class:`ClientGone`.
        """
        started = time.perf_counter()
        call_id = f"chatcmpl-{uuid.uuid4().hex}"
        target = self._target(request, user_header)
        try:
            answer, local_error = self.answer(target, request, cancel=cancel)
        except ClientGone as exc:
            self._record(call_id, target, request, started, None, None, str(exc), gone=exc)
            raise
        except GatewayError as exc:
            self._record(call_id, target, request, started, None, None, str(exc))
            raise
        except Exception as exc:  # a bug must still be counted and logged, and answered as a 500
            self._record(call_id, target, request, started, None, None, f"{type(exc).__name__}: {exc}")
            raise GatewayError(500, f"internal error: {type(exc).__name__}: {exc}", "server_error") from None
        self._record(call_id, target, request, started, answer, local_error)
        body = completion_body(call_id, answer.model, answer.message, answer.finish_reason, answer.usage())
        return body, provenance(target, answer.engine)

    def stream(self, request: ChatRequest, user_header: str | None) -> tuple[Iterator[str | None], dict[str, str]]:
        """A streamed chat completion as SSE lines (the target is resolved before the first byte).

        The iterator yields None while it waits for the next token, so its reader can notice a
        client that went away; closing the iterator early stops the decoding (see :func:`_sse`).
        """
        started = time.perf_counter()
        call_id = f"chatcmpl-{uuid.uuid4().hex}"
        target = self._target(request, user_header)
        return self._stream(call_id, target, request, started), provenance(target, target.engine)

    def _stream(self, call_id: str, target: Target, request: ChatRequest, started: float) -> Iterator[str | None]:
        deltas: queue.Queue[tuple[str, Any]] = queue.Queue()
        gone = threading.Event()  # set when the stream is closed before its end: the client went away

        def work() -> None:  # decodes, then logs the call (a cancelled one too)
            try:
                answer, local_error = self.answer(target, request, on_text=lambda text: deltas.put(("text", text)),
                                                  cancel=gone)
            except ClientGone as exc:
                self._record(call_id, target, request, started, None, None, str(exc), gone=exc)
                return
            except Exception as exc:  # delivered to the stream as an error event
                self._record(call_id, target, request, started, None, None, str(exc))
                deltas.put(("error", exc))
                return
            self._record(call_id, target, request, started, answer, local_error)
            deltas.put(("done", answer))

        threading.Thread(target=work, name="lightdom-stream", daemon=True).start()
        try:
            yield from self._sse_lines(call_id, target, request, deltas)
        finally:
            gone.set()  # after the last line this changes nothing; before it, the decoding stops

    def _sse_lines(self, call_id: str, target: Target, request: ChatRequest,
                   deltas: queue.Queue[tuple[str, Any]]) -> Iterator[str | None]:
        yield chunk(call_id, target.model, {"role": "assistant", "content": ""})
        sent = ""
        while True:
            try:
                kind, value = deltas.get(timeout=STREAM_TICK_S)
            except queue.Empty:
                yield None  # nothing new: the reader may look whether the client is still there
                continue
            if kind == "text":
                sent += value
                yield chunk(call_id, target.model, {"content": value})
            elif kind == "error":
                yield f"data: {json.dumps({'error': {'message': str(value), 'type': 'server_error'}})}\n\n"
                return
            else:
                break
        answer: Answer = value
        content = answer.message.get("content") or ""
        if answer.message.get("tool_calls"):
            calls = [{"index": i, **call} for i, call in enumerate(answer.message["tool_calls"])]
            yield chunk(call_id, answer.model, {"tool_calls": calls})
        elif content != sent and content.startswith(sent):  # a fallback answer, or text not streamed yet
            yield chunk(call_id, answer.model, {"content": content[len(sent):]})
        finish = "tool_calls" if answer.message.get("tool_calls") else answer.finish_reason
        yield chunk(call_id, answer.model, {}, finish)
        if request.include_usage:
            yield chunk(call_id, answer.model, {}, usage=answer.usage())
        yield "data: [DONE]\n\n"

    def close(self) -> None:
        """Write the queued call logs."""
        self.log.close()


def provenance(target: Target, engine: str) -> dict[str, str]:
    """Response headers naming who answered (the body's ``model`` echoes what was asked for)."""
    headers = {"x-lightdom-engine": engine}
    if engine == "local" and target.version:
        headers["x-lightdom-version"] = target.version
    if target.arm:
        headers["x-lightdom-arm"] = target.arm
    return headers


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status)


async def _sse(lines: Iterator[str | None]) -> AsyncIterator[str]:
    """The SSE lines of :meth:`Gateway.stream`, each fetched off the event loop.

    When the client goes away, Starlette cancels the response while this waits for a line;
    ``finally`` then closes ``lines``, which stops the call's decoding and frees its sequence.
    """
    end = object()
    try:
        while True:
            line = await run_in_threadpool(next, lines, end)
            if line is end:
                return
            if line is not None:
                yield line  # type: ignore[misc]
    finally:
        lines.close()  # type: ignore[attr-defined]


async def _while_connected(request: Request, complete: Callable[..., Any], parsed: ChatRequest,
                           user: str | None) -> Any:
    """``complete(parsed, user, cancel)`` off the event loop, cancelled if the client disconnects.

    The body has been read, so the next ASGI message is the disconnect: looked for every
    ``STREAM_TICK_S`` while the answer is decoded (a client that timed out no longer holds a sequence).
    """
    cancel = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(complete, parsed, user, cancel))
    while not (await asyncio.wait({work}, timeout=STREAM_TICK_S))[0]:
        if await request.is_disconnected():
            cancel.set()
    return await work


class _Authenticate:
    """Refuses requests without a valid gateway key (off loopback); ``/health`` stays open.

    Plain ASGI: Starlette's ``@app.middleware("http")`` runs the endpoint behind a memory
    stream that hides the client's disconnect from a streamed response (measured: a dropped
    stream decoded to its end), so :func:`_sse` never learned that the client had gone.
    """

    def __init__(self, app: Any, gateway: Gateway) -> None:
        self.app, self.gateway = app, gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            header = dict(scope["headers"]).get(b"authorization")
            if not self.gateway.authorised(header.decode("latin-1") if header is not None else None):
                refusal = _error(401, "missing or invalid gateway API key (Authorization: Bearer …)",
                                 "authentication_error")
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise RequestError(f"body: not valid JSON ({exc})") from None


def build_app(ws: Workspace, host: str = HOST) -> FastAPI:
    """The FastAPI app of a gateway for ``ws`` bound to ``host``."""
    gateway = Gateway(ws, host)
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        gateway.close()  # Ctrl-C: write the queued call logs before exiting

    app = FastAPI(title="LightDom gateway", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.gateway = gateway

    app.add_middleware(_Authenticate, gateway=gateway)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "loaded": gateway.pool.loaded(), "peak_parallel": gateway.pool.peaks(),
                "decoding": gateway.pool.decoding()}

    @app.get("/metrics")
    def metrics() -> Any:
        return PlainTextResponse(gateway.metrics.render(gateway.log.failures, gateway.pool.decoding()),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": list_models(ws)}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            parsed = parse_request(await _json_body(request))
            user = request.headers.get(USER_HEADER)
            if parsed.stream:
                stream, headers = await run_in_threadpool(gateway.stream, parsed, user)
                return StreamingResponse(_sse(stream), media_type="text/event-stream", headers=headers)
            body, headers = await _while_connected(request, gateway.complete, parsed, user)
            return JSONResponse(body, headers=headers)
        except ClientGone:
            return _error(499, "the client closed the request")  # nobody reads it; uvicorn drops it
        except RequestError as exc:
            return _error(400, str(exc))
        except GatewayError as exc:
            return _error(exc.status, str(exc), exc.kind)

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> Any:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise RequestError("body: expected a JSON object")
            return await run_in_threadpool(gateway.log.feedback, str(body.get("id") or ""),
                                           str(body.get("verdict") or ""), body.get("reason"), body.get("correction"))
        except RequestError as exc:
            return _error(400, str(exc))
        except LightdomError as exc:
            return _error(404 if str(exc).startswith("id:") else 400, str(exc))

    return app


@dataclass
class ServeInfo:
    """Where the gateway listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def auth(self) -> bool:
        """Whether clients must present a gateway key."""
        return not is_loopback(self.host)


def serve(app: Any, info: ServeInfo) -> None:
    """Run a gateway app from :func:`build_app` in this process until interrupted."""
    import uvicorn

    uvicorn.run(app, host=info.host, port=info.port, log_level="warning")
