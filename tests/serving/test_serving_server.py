"""`lightdom serve`: llama-cpp-python's real server on 127.0.0.1, used through our remote engine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from lightdom_tui.errors import LightdomError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def served(workspace):  # noqa: ANN001, ANN201
    """`lightdom serve --json` in a subprocess; yields (first JSON line, base URL)."""
    port = _free_port()
    workspace.settings.serving.n_threads = 1
    workspace.settings.serving.n_ctx = 512
    workspace.save_settings()
    process = subprocess.Popen(
        [sys.executable, "-m", "lightdom_tui.cli", "--home", str(workspace.root), "serve", "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        info = json.loads(process.stdout.readline())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{info['base_url']}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"server did not start: {process.stderr.read() if process.poll() is not None else ''}")
        yield info, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_serve_exposes_the_model_on_localhost_and_remote_engine_talks_to_it(served, workspace):
    from lightdom_tui.serving.remote import RemoteEngine

    info, _process = served
    assert info["version"] == "smollm2-135m-instruct" and info["source"] == "embedded"
    assert info["base_url"].startswith("http://127.0.0.1:")
    models = httpx.get(f"{info['base_url']}/models").json()
    assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct"]

    settings = workspace.settings.serving
    settings.remote_base_url, settings.remote_model = info["base_url"], info["version"]
    settings.remote_timeout_s, settings.remote_retries = 60.0, 0
    engine = RemoteEngine(settings, api_key="sk-local-any-key-1234")
    reply = engine.chat([{"role": "user", "content": "Say hello."}], max_tokens=6, temperature=0.0)
    assert reply.finish_reason in ("stop", "length") and reply.prompt_tokens > 0 and reply.completion_tokens <= 6

    # A real slow generation against a tight timeout: a clear error, not a hang.
    settings.remote_timeout_s = 0.05
    started = time.monotonic()
    with pytest.raises(LightdomError, match=r"no answer within 0.05 s after 1 attempt"):
        engine.chat([{"role": "user", "content": "Write a long story."}], max_tokens=48, temperature=0.0)
    assert time.monotonic() - started < 2.0
