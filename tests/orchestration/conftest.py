"""Fixtures for orchestration tests: a fresh workspace and a real HTTP server on 127.0.0.1.

The server serves fixture pages: good HTML and JSON, a slow page, a 500, a page that
fails twice then succeeds (retries), an oversized page and malformed ones.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PRODUCT_HTML = """<!doctype html><html><head><title>  Product {n}  </title>
<meta name="description" content="Description of product {n}"></head>
<body><h1>Widget {n}</h1><h2>Specs</h2><h2>Reviews</h2>
<span class="price">{price}</span><a class="next" href="/page/{next}">next</a></body></html>"""

MALFORMED_HTML = "<html><head><title>Broken</title><body><div><p>unclosed <b>bold<span class=price>7.5</div></i></b><h1>Widget 5"


@dataclass
class FixtureServer:
    """The running server: base URL and a per-path hit counter."""

    base: str
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


def _handler(state: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:  # keep test output clean
            return

        def _send(self, code: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self.path
            with state.lock:
                state.hits[path] = state.hits.get(path, 0) + 1
                hits = state.hits[path]
            if path.startswith("/page/"):
                n = int(path.rsplit("/", 1)[1])
                self._send(200, PRODUCT_HTML.format(n=n, price=f"{n * 10 + 0.5:,.2f}", next=n + 1).encode())
            elif path.startswith("/slow/"):
                time.sleep(float(path.rsplit("/", 1)[1]))
                self._send(200, PRODUCT_HTML.format(n=0, price="1.00", next=1).encode())
            elif path == "/error500":
                self._send(500, b"boom")
            elif path == "/flaky":  # 503 twice, then fine
                if hits <= 2:
                    self._send(503, b"busy")
                else:
                    self._send(200, PRODUCT_HTML.format(n=99, price="990.50", next=100).encode())
            elif path == "/notfound":
                self._send(404, b"nope")
            elif path == "/huge":
                self._send(200, b"<html><body>" + b"x" * 300_000 + b"</body></html>")
            elif path == "/huge-undeclared":  # no Content-Length: the cap must hold while streaming
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Connection", "close")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"y" * 10_000)
                self.close_connection = True
            elif path == "/malformed.html":
                self._send(200, MALFORMED_HTML.encode())
            elif path == "/hang":  # headers then nothing: only a timeout ends it
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"<html>")
                self.wfile.flush()
                time.sleep(5)
            elif path.startswith("/api/item/"):
                n = int(path.rsplit("/", 1)[1])
                doc = {"item": {"id": n, "name": f"Item {n}", "tags": ["a", "b", f"t{n}"],
                                "price": {"amount": n * 1.5, "currency": "EUR"}}}
                self._send(200, json.dumps(doc).encode(), "application/json")
            elif path == "/api/malformed":
                self._send(200, b'{"item": {"id": 1, "name": ', "application/json")
            else:
                self._send(404, b"unknown")

    return Handler


@pytest.fixture(scope="session")
def http_server() -> Iterator[FixtureServer]:
    """A real threading HTTP server on 127.0.0.1 (random port) serving the fixture pages."""
    state = FixtureServer(base="")
    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # noqa: ANN001 - clients hanging up on purpose
            return

    server = QuietServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator["Workspace"]:  # noqa: F821
    """A fresh workspace (no model registration: these tests never load a model).

    Its workflows may fetch from loopback addresses (the fixture server is on 127.0.0.1)
    and read pages from the test's temporary folder, which a workspace allows only when
    its settings say so (tests/orchestration/test_hardening_* use workspaces without).
    """
    from lightdom_tui.workspace import create_workspace

    workspace = create_workspace(tmp_path / "ws")
    workspace.settings.orchestration.allowed_networks = ["127.0.0.0/8"]
    workspace.settings.orchestration.allowed_paths = [str(tmp_path)]
    workspace.save_settings()
    yield workspace
    workspace.close()
