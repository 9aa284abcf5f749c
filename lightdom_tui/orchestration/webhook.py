"""Webhook trigger: a small HTTP listener on 127.0.0.1 that starts a workflow run.

``POST /hooks/<workflow_id>`` with the workflow's secret token in
``X-Lightdom-Token: <token>`` or ``Authorization: Bearer <token>``. Only the token's
SHA-256 is stored (``trigger_config.token_sha256``); a wrong or missing token — or an
unknown workflow, so ids do not leak — answers 401 and nothing runs. A good token
answers 202 with the run id; the run executes on a small bounded worker pool.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlmodel import Session

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Workflow
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.executor import claim_run, run_workflow
from lightdom_tui.orchestration.triggers import new_webhook_token, token_matches
from lightdom_tui.workspace import Workspace

_PATH = re.compile(r"^/hooks/(\d+)/?$")
MAX_BODY = 64 * 1024


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


def _token_from(headers: Any) -> str | None:
    token = headers.get("X-Lightdom-Token")
    if token:
        return token.strip()
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


class WebhookServer:
    """The listener; ``start()`` serves in a background thread, ``stop()`` ends it (and waits for runs)."""

    def __init__(self, ws: Workspace, host: str = "127.0.0.1", port: int = 0, *, max_runs: int = 2) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise LightdomError(f"webhook host: {host!r} is not a loopback address; listeners bind 127.0.0.1")
        self.ws = ws
        self._pool = ThreadPoolExecutor(max_workers=max_runs, thread_name_prefix="webhook-run")
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and wait for started runs to finish."""
        self._server.shutdown()
        self._server.server_close()
        self._pool.shutdown(wait=True)

    def trigger(self, workflow_id: int, token: str | None) -> tuple[int, dict[str, Any]]:
        """Check the token and start a run: (HTTP status, JSON body)."""
        with self.ws.session() as session:
            workflow = session.get(Workflow, workflow_id)
            config = loads(workflow.trigger_config_json, {}) if workflow else {}
            allowed = workflow is not None and workflow.trigger == "webhook" and token_matches(config, token)
            paused = workflow is not None and workflow.status in ("paused", "disabled")
        if not allowed:
            return 401, {"error": "missing or wrong token"}
        if paused:
            return 409, {"error": f"workflow {workflow_id} is {workflow.status}"}  # type: ignore[union-attr]
        run_id = claim_run(self.ws, workflow_id, trigger="webhook")
        self._pool.submit(self._execute, workflow_id, run_id)
        return 202, {"run_id": run_id, "workflow_id": workflow_id}

    def _execute(self, workflow_id: int, run_id: int | None) -> None:
        try:
            run_workflow(self.ws, workflow_id, trigger="webhook", run_id=run_id)
        except Exception:  # recorded on the run by the executor
            pass

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # a client that opens and never sends cannot hold a thread forever

            def log_message(self, *_args: object) -> None:
                return

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                match = _PATH.match(self.path.split("?", 1)[0])
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413, {"error": "body too large"})
                    return
                if length:
                    self.rfile.read(length)  # the payload is not used; read it so the connection stays sane
                if match is None:
                    self._reply(404, {"error": "POST /hooks/<workflow_id>"})
                    return
                code, body = server.trigger(int(match.group(1)), _token_from(self.headers))
                self._reply(code, body)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                self._reply(405, {"error": "use POST /hooks/<workflow_id>"})

        return Handler
