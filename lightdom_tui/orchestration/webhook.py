"""Webhook trigger: a small HTTP listener on 127.0.0.1 that starts a workflow run.

``POST /hooks/<workflow_id>`` with the workflow's secret token in
``X-Lightdom-Token: <token>`` or ``Authorization: Bearer <token>``. Only the token's
SHA-256 is stored (``trigger_config.token_sha256``); a wrong or missing token — or an
unknown workflow, so ids do not leak — answers 401 and nothing runs. A good token
answers 202 with the run id; the run executes on a small bounded worker pool.

The listener is uvicorn (h11) with a tiny ASGI app, so the HTTP parsing is a real
server's: a malformed request line or ``Content-Length`` is a 400 from h11, never a
traceback. Bounds: a listen backlog of ``BACKLOG``; at most ``MAX_CONNECTIONS`` at
once (more are answered 503); every connection closed after one request and after
``REQUEST_DEADLINE_S`` whatever state it is in (a client dripping its headers or body
holds nothing for long); the token checked before any body byte is read; a body of
at most ``MAX_BODY`` bytes (declared or streamed); database work on a fixed pool of
``DB_THREADS`` threads; at most ``MAX_QUEUED_RUNS`` runs waiting (more: 429).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlmodel import Session

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Workflow
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.executor import claim_run, run_workflow
from lightdom_tui.orchestration.triggers import new_webhook_token, token_matches
from lightdom_tui.workspace import Workspace

_PATH = re.compile(r"^/hooks/(\d{1,18})/?$")  # 18 digits: always a valid SQLite integer
MAX_BODY = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
BACKLOG = 256
MAX_CONNECTIONS = 256
REQUEST_DEADLINE_S = 10.0
DB_THREADS = 4
MAX_QUEUED_RUNS = 32


def issue_token(session: Session, workflow_id: int) -> str:
    """Create (or rotate) a webhook workflow's secret token; returns it once, stores only its hash."""
    workflow = session.get(Workflow, workflow_id)
    if workflow is None:
        raise LightdomError(f"workflow {workflow_id}: not found")
    if workflow.trigger != "webhook":
        raise LightdomError(f"workflow {workflow_id}: trigger is {workflow.trigger!r}, not 'webhook'")
    token, digest = new_webhook_token()
    config = loads(workflow.trigger_config_json, {})
    config["token_sha256"] = digest
    workflow.trigger_config_json = dumps(config)
    session.add(workflow)
    return token


def _token_from(headers: dict[str, str]) -> str | None:
    token = headers.get("x-lightdom-token")
    if token:
        return token.strip()
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def check_port(port: Any) -> int:
    """A TCP port number (0 = any free port), else a clear error."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise LightdomError(f"webhook port: {port!r} must be a whole number from 0 to 65535")
    return port


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LightdomError(f"webhook port {port} on {host} is already in use (another scheduler?); "
                                f"choose another with --port") from None
        raise LightdomError(f"webhook: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class WebhookServer:
    """The listener; ``start()`` serves in a background thread, ``stop()`` ends it (and waits for runs)."""

    def __init__(self, ws: Workspace, host: str = "127.0.0.1", port: int = 0, *, max_runs: int = 2) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise LightdomError(f"webhook host: {host!r} is not a loopback address; listeners bind 127.0.0.1")
        self.ws = ws
        self._socket = _listen(host, check_port(port))
        self._runs = ThreadPoolExecutor(max_workers=max_runs, thread_name_prefix="webhook-run")
        self._db = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="webhook-db")
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        import uvicorn

        config = uvicorn.Config(
            _App(self), http=_protocol_class(), loop="asyncio", lifespan="off", log_config=None, access_log=False,
            log_level="error", backlog=BACKLOG, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=1,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES, timeout_graceful_shutdown=2,
            server_header=False, date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="webhook", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LightdomError(f"webhook: the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop listening and wait for started runs to finish."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()
        self._db.shutdown(wait=True)
        self._runs.shutdown(wait=True)

    # ------------------------------------------------------------------ the work (on the db threads)

    def authorise(self, workflow_id: int, token: str | None) -> tuple[int, dict[str, Any]] | None:
        """None when the token is right for this webhook workflow, else (HTTP status, JSON body)."""
        with self.ws.session() as session:
            workflow = session.get(Workflow, workflow_id)
            config = loads(workflow.trigger_config_json, {}) if workflow else {}
            allowed = workflow is not None and workflow.trigger == "webhook" and token_matches(config, token)
            status = workflow.status if workflow is not None else None
        if not allowed:
            return 401, {"error": "missing or wrong token"}
        if status in ("paused", "disabled"):
            return 409, {"error": f"workflow {workflow_id} is {status}"}
        return None

    def start_run(self, workflow_id: int) -> tuple[int, dict[str, Any]]:
        """Claim a run and queue it (429 when ``MAX_QUEUED_RUNS`` are already waiting)."""
        with self._queued_lock:
            if self._queued >= MAX_QUEUED_RUNS:
                return 429, {"error": "too many runs waiting; try again later"}
            self._queued += 1
        try:
            run_id = claim_run(self.ws, workflow_id, trigger="webhook")
            self._runs.submit(self._execute, workflow_id, run_id)
        except BaseException:
            self._release()
            raise
        return 202, {"run_id": run_id, "workflow_id": workflow_id}

    def trigger(self, workflow_id: int, token: str | None) -> tuple[int, dict[str, Any]]:
        """Check the token and start a run: (HTTP status, JSON body)."""
        refused = self.authorise(workflow_id, token)
        return refused if refused is not None else self.start_run(workflow_id)

    def _release(self) -> None:
        with self._queued_lock:
            self._queued -= 1

    def _execute(self, workflow_id: int, run_id: int | None) -> None:
        try:
            run_workflow(self.ws, workflow_id, trigger="webhook", run_id=run_id)
        except Exception:  # recorded on the run by the executor
            pass
        finally:
            self._release()


class _App:
    """The ASGI app: route, authorise (before the body), read a bounded body, start the run."""

    def __init__(self, server: WebhookServer) -> None:
        self.server = server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            outcome = await asyncio.wait_for(self._receive(scope, receive), REQUEST_DEADLINE_S)
            if isinstance(outcome, int):  # authorised, body read: start the run (not cut by the deadline)
                outcome = await asyncio.get_running_loop().run_in_executor(self.server._db, self.server.start_run,
                                                                           outcome)
            code, body = outcome
        except asyncio.TimeoutError:
            code, body = 408, {"error": f"request not received within {REQUEST_DEADLINE_S:g}s"}
        except Exception as exc:  # a database error, say: one line to the client, the server goes on
            code, body = 500, {"error": f"{type(exc).__name__}"}
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})

    async def _receive(self, scope: dict[str, Any], receive: Any) -> tuple[int, dict[str, Any]] | int:
        """A response for a refused request, or the workflow id once authorised and the body read."""
        if scope["method"] != "POST":
            return 405, {"error": "use POST /hooks/<workflow_id>"}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return 413, {"error": f"body larger than {MAX_BODY} bytes"}
        match = _PATH.match(scope["path"])
        if match is None:
            return 404, {"error": "POST /hooks/<workflow_id>"}
        workflow_id = int(match.group(1))
        loop = asyncio.get_running_loop()
        refused = await loop.run_in_executor(self.server._db, self.server.authorise, workflow_id,
                                             _token_from(headers))
        if refused is not None:
            return refused  # the body was never read
        size = 0
        while True:  # the payload is not used, only bounded: a chunked body counts too
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, {"error": "client went away"}
            size += len(message.get("body", b""))
            if size > MAX_BODY:
                return 413, {"error": f"body larger than {MAX_BODY} bytes"}
            if not message.get("more_body"):
                break
        return workflow_id


def _protocol_class() -> type:
    """uvicorn's h11 protocol with a hard lifetime per connection (headers included)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineProtocol(H11Protocol):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:  # noqa: D102 - asyncio hook
            super().connection_made(transport)
            # REQUEST_DEADLINE_S for the app plus a little to send its 408: then the socket goes
            self._lifetime = self.loop.call_later(REQUEST_DEADLINE_S + 2, transport.close)

        def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102 - asyncio hook
            self._lifetime.cancel()
            super().connection_lost(exc)

    return DeadlineProtocol
