"""Hardening (issue 18): the webhook listener under hostile requests — a real server on 127.0.0.1, raw sockets.

Every request gets an HTTP answer (or, for a client that never finishes, a closed
socket within the deadline); nothing is logged with a traceback; nothing runs
without the right token; the listener answers a crowd.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from lightdom_tui.db.models import WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree, webhook
from lightdom_tui.orchestration.webhook import WebhookServer, issue_token
from lightdom_tui.workspace import create_workspace


class _Tracebacks(logging.Handler):
    """Collects every log record that carries an exception (what would print a traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One listener for the module: a webhook workflow (no services: a run is instant) and its token."""
    ws = create_workspace(tmp_path_factory.mktemp("hook") / "ws")
    with ws.session() as s:
        c = tree.create_campaign(s, "hooks")
        w = tree.create_workflow(s, c.id, "on-push", trigger="webhook", status="active")
        token = issue_token(s, w.id)
        workflow_id = w.id
    caught = _Tracebacks()
    logging.getLogger().addHandler(caught)
    server = WebhookServer(ws).start()
    port = int(server.url.rsplit(":", 1)[1])
    yield {"ws": ws, "server": server, "port": port, "id": workflow_id, "token": token, "caught": caught}
    server.stop()
    logging.getLogger().removeHandler(caught)
    ws.close()


def _raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (every answer says close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


def _post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _runs(hook: dict) -> int:
    with hook["ws"].session() as s:
        return s.exec(select(func.count()).select_from(WorkflowRun)).one()


def _no_tracebacks(hook: dict, capfd: pytest.CaptureFixture[str]) -> None:
    assert hook["caught"].records == []
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


@pytest.mark.parametrize("path, headers, code", [
    ("/hooks/1", {"Content-Length": "-1"}, 400),
    ("/hooks/1", {"Content-Length": "abc"}, 400),
    ("/hooks/1", {"Content-Length": "5", "content-length": "6"}, 400),
    ("/hooks/" + "9" * 40, {"Content-Length": "0"}, 404),  # a huge id: never an integer overflow
    ("/hooks/999999999999999999", {"Content-Length": "0"}, 401),  # unknown, 18 digits: like a wrong token
    ("/hooks/1", {"Content-Length": str(400 * 1024 * 1024)}, 413),  # declared too large: refused before reading
    ("/hooks/1", {"Content-Length": "0", "X-Lightdom-Token": "\u00e9t\u00e9"}, 401),
])
def test_malformed_requests_get_one_answer_and_the_server_goes_on(hook, capfd, path, headers, code):
    started = time.monotonic()
    assert _status(_raw(hook["port"], _post(path, headers))) == code
    assert time.monotonic() - started < 5  # well before the 10 s deadline: nothing waited for
    assert _status(_raw(hook["port"], _post("/hooks/1", {"Content-Length": "0"}))) in (401, 404)
    _no_tracebacks(hook, capfd)


def test_a_wrong_token_is_refused_before_the_body_is_read(hook, capfd):
    before = _runs(hook)
    head = _post(f"/hooks/{hook['id']}", {"Content-Length": str(60 * 1024), "X-Lightdom-Token": "wrong"})
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", hook["port"]), timeout=5) as sock:
        sock.sendall(head + b"x" * 1024)  # the rest of the body never comes
        response = sock.recv(65536)
    assert _status(response) == 401 and time.monotonic() - started < 5  # not the 10 s deadline
    assert _runs(hook) == before
    _no_tracebacks(hook, capfd)


def test_a_chunked_body_over_the_cap_is_413_and_nothing_runs(hook, capfd):
    before = _runs(hook)
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b"z" * 32 * 1024)
    data = _post(f"/hooks/{hook['id']}", {"Transfer-Encoding": "chunked", "X-Lightdom-Token": hook["token"]},
                 chunk * 3 + b"0\r\n\r\n")
    assert _status(_raw(hook["port"], data)) == 413
    assert _runs(hook) == before
    ok = _raw(hook["port"], _post(f"/hooks/{hook['id']}", {"Content-Length": "2", "Authorization":
                                                             f"Bearer {hook['token']}"}, b"{}"))
    assert _status(ok) == 202 and b'"run_id"' in ok
    _no_tracebacks(hook, capfd)


def test_a_slow_client_is_cut_at_the_deadline(hook, capfd, monkeypatch):
    monkeypatch.setattr(webhook, "REQUEST_DEADLINE_S", 0.5)
    started = time.monotonic()  # headers that never end: the connection is closed
    assert _raw(hook["port"], b"POST /hooks/1 HTTP/1.1\r\nHost: x\r\n", timeout=15) == b""
    assert time.monotonic() - started < 8  # 0.5 s + 2 s to answer; the default would be 12 s
    started = time.monotonic()  # a body that never ends: 408
    slow = _post(f"/hooks/{hook['id']}", {"Content-Length": "100", "X-Lightdom-Token": hook["token"]}, b"x")
    assert _status(_raw(hook["port"], slow, timeout=15)) == 408
    assert time.monotonic() - started < 8
    _no_tracebacks(hook, capfd)


def test_a_crowd_of_clients_is_answered(hook, capfd):
    """100 clients × 2 requests at once (the old listener left a third unanswered in 60 s)."""
    def client(n: int) -> list[int]:
        return [_status(_raw(hook["port"], _post(f"/hooks/{hook['id']}", {"Content-Length": "0",
                                                                           "X-Lightdom-Token": f"wrong{n}"}),
                             timeout=30)) for _ in range(2)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=100) as pool:
        codes = [code for pair in pool.map(client, range(100)) for code in pair]
    assert codes == [401] * 200
    assert time.monotonic() - started < 30
    _no_tracebacks(hook, capfd)


def test_port_in_use_and_port_out_of_range_are_one_line(hook):
    with pytest.raises(LightdomError, match=rf"webhook port {hook['port']} on 127.0.0.1 is already in use"):
        WebhookServer(hook["ws"], port=hook["port"])
    with pytest.raises(LightdomError, match="webhook port: 99999 must be a whole number from 0 to 65535"):
        WebhookServer(hook["ws"], port=99999)


_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters=":"), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "OPTIONS", "BREW", "P\u00d6ST"]),
    path=st.one_of(st.integers(-5, 10**30).map(lambda n: f"/hooks/{n}"), st.text(max_size=30).map(lambda t: "/" + t),
                   st.just("/hooks/1/")),
    length=st.one_of(st.none(), st.just("exact"), st.sampled_from(["-1", "abc", "1e3", "0x10", "99999999999999999999"])),
    token=st.one_of(st.none(), _HEADER_TEXT, st.just("right")),
    extra=st.dictionaries(_HEADER_TEXT.filter(lambda k: k.strip() != ""), _HEADER_TEXT, max_size=3),
    body=st.binary(max_size=512),
)
def test_any_request_gets_an_http_answer_and_no_traceback(hook, capfd, method, path, length, token, extra, body):
    headers = dict(extra)
    if length == "exact":
        headers["Content-Length"] = str(len(body))
    elif length is not None:
        headers["Content-Length"] = length
    elif body:
        headers["Content-Length"] = str(len(body))
    if token is not None:
        headers["X-Lightdom-Token"] = hook["token"] if token == "right" else token
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    before = _runs(hook)
    code = _status(_raw(hook["port"], data))
    assert code in (202, 400, 401, 404, 405, 413, 422, 429)
    if code != 202:
        assert _runs(hook) == before  # nothing runs unless accepted
    _no_tracebacks(hook, capfd)


def test_runs_are_bounded_by_the_queue(hook, monkeypatch):
    """More accepted requests than MAX_QUEUED_RUNS waiting: the rest are 429, not threads."""
    monkeypatch.setattr(webhook, "MAX_QUEUED_RUNS", 0)
    ok = _raw(hook["port"], _post(f"/hooks/{hook['id']}", {"Content-Length": "0", "X-Lightdom-Token": hook["token"]}))
    assert _status(ok) == 429
