"""Serving fixtures: a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol.

It stands in for a remote API (DeepSeek's) and can be told to fail the next
requests in the ways real APIs fail: 500s, slow answers, malformed bodies, or 401
for a key it does not know. Its answers are built from the request (the topic in
the user message), so a test cannot pass on a canned reply.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

VALID_KEY = "sk-test-4f9c2a7e1d3b5a6c8e0f"


@dataclass
class FakeAPIState:
    """Behaviour queue and what the server saw."""

    script: list[str] = field(default_factory=list)  # per request: ok / 500 / slow / malformed / length
    slow_s: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)


def _answer_for(messages: list[dict[str, Any]], count: int) -> str:
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    topic = re.search(r"Topic: (.*)", user)
    words = re.findall(r"[a-z0-9]+", (topic.group(1) if topic else "item").lower()) or ["item"]
    stem = "_".join(words)
    names = [f"{stem}_id", f"{stem}_name", f"{stem}_created_at", f"{stem}_tags", f"{stem}_active"]
    kinds = ["string", "string", "date", "array", "boolean"]
    items = [{"name": n, "type": t, "description": f"{n.replace('_', ' ')}"} for n, t in zip(names, kinds)]
    return json.dumps({"attributes": items[: max(1, min(count, len(items)))]})


def make_handler(state: FakeAPIState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(payload)
            auth = self.headers.get("Authorization", "")
            state.auth_headers.append(auth)
            if not self.path.endswith("/chat/completions"):
                return self._send(404, '{"error": "not found"}')
            if auth != f"Bearer {VALID_KEY}":
                return self._send(401, '{"error": {"message": "Authentication Fails, invalid api key"}}')
            mode = state.script.pop(0) if state.script else "ok"
            if mode == "500":
                return self._send(500, '{"error": "internal"}')
            if mode == "slow":
                time.sleep(state.slow_s)
            if mode == "malformed":
                return self._send(200, "<html>gateway says hi</html>")
            count = int(re.search(r"Count: (\d+)", json.dumps(payload["messages"])).group(1)) if "Count:" in json.dumps(payload["messages"]) else 3
            content = _answer_for(payload["messages"], count)
            finish = "length" if mode == "length" else "stop"
            if mode == "length":
                content = content[: len(content) // 2]
            body = {
                "id": "chatcmpl-test", "object": "chat.completion", "model": payload.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 40, "completion_tokens": len(content) // 4, "total_tokens": 40 + len(content) // 4},
            }
            return self._send(200, json.dumps(body))

    return Handler


@pytest.fixture()
def valid_key() -> str:
    """The one key the fake API accepts."""
    return VALID_KEY


@pytest.fixture()
def fake_api() -> Iterator[tuple[str, FakeAPIState]]:
    """(base URL, state) of a running OpenAI-compatible server on 127.0.0.1."""
    state = FakeAPIState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


@pytest.fixture()
def remote_ws(workspace, fake_api, monkeypatch):  # noqa: ANN001, ANN201
    """The workspace pointed at the fake API with short timeouts and the valid key in the env var."""
    base_url, _state = fake_api
    serving = workspace.settings.serving
    serving.remote_base_url = base_url
    serving.remote_timeout_s = 0.5
    serving.remote_retries = 2
    monkeypatch.setenv(serving.api_key_env, VALID_KEY)
    return workspace


@pytest.fixture(autouse=True)
def _close_engine_pools() -> Iterator[None]:
    """Loaded llama.cpp models are freed after each test."""
    yield
    from lightdom_tui.serving.local import close_pools

    close_pools()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningGateway:
    """A `lightdom serve` subprocess and what the tests need to talk to it."""

    base_url: str
    home: Any
    remote: FakeAPIState
    remote_url: str
    process: Any


def start_gateway(home: Any, *args: str, env: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Start `lightdom serve --json` for ``home``; (process, its JSON line) once /health answers."""
    import subprocess
    import sys

    import httpx

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), "serve", "--port", str(port), "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"gateway did not start: {process.stderr.read()}")
    info = json.loads(line)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, info
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gateway did not answer: {process.stderr.read()}")


def stop_gateway(process: Any) -> None:
    """Ctrl-C the gateway (it writes its queued call logs) and wait."""
    import signal
    import subprocess

    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, embedded_gguf):  # noqa: ANN001, ANN201
    """One running gateway for the session: a workspace with the embedded base, a second GGUF
    version ``v2``, a damaged GGUF ``broken``, every call sampled into curation but those asking
    for ``v2`` by name, and a real OpenAI-compatible server on 127.0.0.1 as its remote fallback
    and as the ``cluster`` route."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.workspace import create_workspace

    state = FakeAPIState()
    remote = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    remote.daemon_threads = True
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    remote_url = f"http://127.0.0.1:{remote.server_address[1]}/v1"

    home = tmp_path_factory.mktemp("gateway") / "ws"
    ws = create_workspace(home)
    register_embedded_model(ws)
    broken = home / "models" / "gguf" / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with ws.session() as session:
        register_version(session, version="v2", kind="gguf", format="gguf", path=embedded_gguf)
        register_version(session, version="broken", kind="gguf", format="gguf", path=broken)
    serving = ws.settings.serving
    serving.n_threads, serving.n_ctx, serving.parallel = 2, 1024, 4
    serving.log_sample_rate = 1.0
    serving.log_sample_routes = ["v2=0"]  # calls that ask for "v2" by name are not sampled
    serving.remote_base_url, serving.remote_timeout_s, serving.remote_retries = remote_url, 5.0, 0
    serving.remote_routes = [f"cluster={remote_url}#big-model"]
    ws.settings.monitoring.check_every = 0
    ws.save_settings()
    ws.close()
    process, info = start_gateway(home, env={serving.api_key_env: VALID_KEY})
    try:
        yield RunningGateway(info["base_url"], home, state, remote_url, process)
    finally:
        stop_gateway(process)
        remote.shutdown()
        remote.server_close()


@pytest.fixture(scope="session")
def launch():  # noqa: ANN201
    """(start_gateway, stop_gateway) for tests that need a gateway of their own."""
    return start_gateway, stop_gateway
