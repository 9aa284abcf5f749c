"""What happens to a gateway call after its answer: verdicts after a restart, a client that
leaves mid-stream, the per-route sampling into curation, and the key commands on a box
without a keyring. Real `lightdom serve` processes, the official `openai` client and httpx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from openai import OpenAI
from sqlmodel import select

from lightdom_tui.db.models import Example, GatewayCall, RequestLog
from lightdom_tui.workspace import open_workspace

pytestmark = pytest.mark.slow
EMBEDDED = "smollm2-135m-instruct"


def _client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="unused-on-loopback", max_retries=0, timeout=120)


def _logged(home, call_id: str, timeout: float = 10.0) -> tuple[GatewayCall, RequestLog]:  # noqa: ANN001
    """The call's rows once its gateway has written them (after the answer)."""
    ws = open_workspace(home)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with ws.session() as session:
                call = session.get(GatewayCall, call_id)
                if call is not None:
                    row = session.get(RequestLog, call.request_log_id)
                    session.expunge_all()
                    return call, row
            time.sleep(0.1)
    finally:
        ws.close()
    raise AssertionError(f"call {call_id} was not logged")


def test_a_verdict_on_any_logged_call_works_after_a_restart(gateway, launch):
    client = _client(gateway.base_url)
    unsampled = client.chat.completions.create(model="v2", max_tokens=6, temperature=0,
                                               messages=[{"role": "user", "content": "Say yes to bob@example.com"}])
    sampled = client.chat.completions.create(model=EMBEDDED, messages=[{"role": "user", "content": "Say no"}],
                                             max_tokens=6, temperature=0)
    quiet_call, _ = _logged(gateway.home, unsampled.id)
    loud_call, _ = _logged(gateway.home, sampled.id)
    # serving.log_sample_routes: "v2" is sampled at 0, every other route at the global 1.0
    assert quiet_call.example_id is None and loud_call.example_id is not None
    assert json.loads(quiet_call.answer_json)["content"] == unsampled.choices[0].message.content
    assert "bob@example.com" not in quiet_call.messages_json and "<EMAIL>" in quiet_call.messages_json  # kept scrubbed

    start_gateway, stop_gateway = launch
    process, info = start_gateway(gateway.home)  # a second gateway on the workspace: none of these calls in memory
    try:
        post = httpx.Client(base_url=info["base_url"], timeout=30)
        accepted = post.post("/feedback", json={"id": unsampled.id, "verdict": "accept"})
        rejected = post.post("/feedback", json={"id": sampled.id, "verdict": "reject", "reason": "wrong"})
        unknown = post.post("/feedback", json={"id": "chatcmpl-never-answered", "verdict": "accept"})
    finally:
        stop_gateway(process)
    assert accepted.status_code == 200 and rejected.status_code == 200, (accepted.text, rejected.text)
    assert rejected.json()["example_id"] == loud_call.example_id  # the sampled copy is judged, not a second one
    assert unknown.status_code == 404
    message = unknown.json()["error"]["message"]
    assert message == "id: no logged gateway call 'chatcmpl-never-answered'"

    ws = open_workspace(gateway.home)
    try:
        with ws.session() as session:
            example = session.get(Example, accepted.json()["example_id"])
            assert example.status == "approved" and "Say yes" in example.messages_json
            assert json.loads(example.metadata_json)["gateway"]["id"] == unsampled.id
            assert session.get(Example, loud_call.example_id).status == "rejected"
            assert session.get(GatewayCall, unsampled.id).example_id == example.id
    finally:
        ws.close()


def test_a_client_that_leaves_mid_stream_frees_its_sequence(gateway):
    health = gateway.base_url.removesuffix("/v1") + "/health"
    stream = _client(gateway.base_url).chat.completions.create(
        model=EMBEDDED, temperature=0, max_tokens=900, stream=True,
        messages=[{"role": "user", "content": "Count from 1 to 1000, one number per line."}])
    pieces = []
    for chunk in stream:
        pieces += [c.delta.content for c in chunk.choices if c.delta.content]
        if len(pieces) >= 4:
            break
    call_id = chunk.id
    assert httpx.get(health).json()["decoding"][EMBEDDED] == 1
    stream.close()  # the client goes away with hundreds of tokens still to come
    left = time.monotonic()
    while httpx.get(health).json()["decoding"][EMBEDDED] and time.monotonic() - left < 5:
        time.sleep(0.05)
    freed_after = time.monotonic() - left
    assert freed_after < 3, f"the sequence was still decoding {freed_after:.1f} s after the client left"

    _call, row = _logged(gateway.home, call_id)
    assert row.error.startswith("cancelled: the client disconnected") and row.success  # not a model failure
    assert 0 < row.completion_tokens < 100  # decoding stopped (this answer runs to ~120 tokens when read to its end)
    reply = httpx.post(gateway.base_url + "/feedback", json={"id": call_id, "verdict": "accept"}, timeout=30)
    assert reply.status_code == 404 and "cancelled" in reply.json()["error"]["message"]
    metrics = httpx.get(gateway.base_url.removesuffix("/v1") + "/metrics").text
    assert f'lightdom_decoding_sequences{{version="{EMBEDDED}"}} 0' in metrics
    assert f'lightdom_requests_total{{version="{EMBEDDED}",arm="",engine="local",status="cancelled"}} 1' in metrics


def _cancelled_rows(home) -> list[RequestLog]:  # noqa: ANN001
    ws = open_workspace(home)
    try:
        with ws.session() as session:
            rows = list(session.exec(select(RequestLog).where(RequestLog.error.startswith("cancelled"))))
            session.expunge_all()
            return rows
    finally:
        ws.close()


def test_a_client_that_gives_up_on_a_plain_call_frees_its_sequence(gateway):
    health = gateway.base_url.removesuffix("/v1") + "/health"
    before = {row.id for row in _cancelled_rows(gateway.home)}
    with pytest.raises(httpx.ReadTimeout):  # the client stops waiting with hundreds of tokens still to come
        httpx.post(gateway.base_url + "/chat/completions", timeout=httpx.Timeout(30, read=0.8), json={
            "model": EMBEDDED, "temperature": 0, "max_tokens": 900,
            "messages": [{"role": "user", "content": "Count from 1 to 1000, one number per line."}]})
    left = time.monotonic()
    while httpx.get(health).json()["decoding"].get(EMBEDDED) and time.monotonic() - left < 5:
        time.sleep(0.05)
    freed_after = time.monotonic() - left
    assert freed_after < 3, f"the sequence was still decoding {freed_after:.1f} s after the client left"
    deadline = time.monotonic() + 10
    while not (new := [r for r in _cancelled_rows(gateway.home) if r.id not in before]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(new) == 1, "the abandoned call was not logged as cancelled"
    assert new[0].success and new[0].error.startswith("cancelled: the client disconnected")
    assert new[0].completion_tokens < 100  # stopped early: read to its end this answer runs to ~120 tokens


def test_keys_show_without_a_usable_keyring_says_not_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DEEPSEEK_API_KEY"}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # keyring's own "no backend" stand-in
    command = [sys.executable, "-m", "lightdom_tui.cli", "--home", str(tmp_path / "none"), "keys", "show", "deepseek"]
    shown = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "deepseek: not set (-)"
    assert "Traceback" not in shown.stderr and "keyring" not in (shown.stdout + shown.stderr).lower()

    env["DEEPSEEK_API_KEY"] = "sk-from-env-0123456789"  # the variable comes first, keyring or not
    shown = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(shown.stdout) == {"provider": "deepseek", "set": True, "key": "…6789",
                                        "source": "env:DEEPSEEK_API_KEY", "problem": None}
