"""`lightdom serve` as the loop's front door, driven by the official `openai` client.

One gateway runs for the session (tests/serving/conftest.py): the embedded SmolLM2,
a second GGUF version ``v2``, a damaged ``broken`` GGUF, and a real OpenAI-compatible
server on 127.0.0.1 as remote fallback and ``cluster`` route.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest
from openai import OpenAI
from sqlmodel import select

from lightdom_tui.db.models import ABOutcome, Example, RequestLog
from lightdom_tui.workspace import open_workspace

pytestmark = pytest.mark.slow
EMBEDDED = "smollm2-135m-instruct"


def _client(gateway, **kwargs) -> OpenAI:  # noqa: ANN001
    return OpenAI(base_url=gateway.base_url, api_key=kwargs.pop("api_key", "unused-on-loopback"), max_retries=0,
                  timeout=120, **kwargs)


def _log_row(gateway, call_id: str, timeout: float = 10.0):  # noqa: ANN001, ANN202
    """The RequestLog row of a call (written after the answer) via its sampled example."""
    ws = open_workspace(gateway.home)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with ws.session() as session:
                for example in session.exec(select(Example).where(Example.source == "gateway")).all():
                    meta = json.loads(example.metadata_json)["gateway"]
                    if meta["id"] == call_id:
                        row = session.get(RequestLog, meta["request_log_id"])
                        session.expunge_all()
                        return row, example
            time.sleep(0.1)
    finally:
        ws.close()
    raise AssertionError(f"call {call_id} was not logged")


def test_plain_and_streamed_answers_with_usage(gateway):
    client = _client(gateway)
    plain = client.chat.completions.create(model=EMBEDDED, messages=[{"role": "user", "content": "Say hi"}],
                                           max_tokens=12, temperature=0)
    assert plain.choices[0].message.content and plain.choices[0].finish_reason in ("stop", "length")
    assert plain.usage.prompt_tokens > 0 and 0 < plain.usage.completion_tokens <= 12

    stream = client.chat.completions.create(model=EMBEDDED, messages=[{"role": "user", "content": "Say hi"}],
                                            max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    deltas, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            deltas.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([d for d in deltas if d]) > 1  # really streamed, token by token
    assert "".join(deltas) == plain.choices[0].message.content  # greedy: the same answer either way
    assert usage.completion_tokens == plain.usage.completion_tokens and finish == plain.choices[0].finish_reason
    # the same prompt again: all of it but the last token comes from the KV cache the first call left
    assert usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens - 1

    row, example = _log_row(gateway, plain.id)
    assert (row.engine, row.model_name, row.success, row.fallback) == ("local", EMBEDDED, True, False)
    assert row.completion_tokens == plain.usage.completion_tokens and 0 < row.confidence <= 1
    assert example.status == "pending"


def test_json_schema_strict_answer_validates(gateway):
    schema = {"type": "object", "additionalProperties": False, "required": ["city", "population", "tags"],
              "properties": {"city": {"type": "string", "maxLength": 24}, "population": {"type": "integer"},
                             "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}}}
    answer = _client(gateway).chat.completions.create(
        model=EMBEDDED, temperature=0, messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
    )
    jsonschema.validate(json.loads(answer.choices[0].message.content), schema)


def test_tools_answer_with_a_tool_call(gateway):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
                       "required": ["city"]}}}]
    answer = _client(gateway).chat.completions.create(
        model=EMBEDDED, temperature=0, tools=tools, tool_choice="required",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)


def test_eight_concurrent_clients_are_decoded_together(gateway):
    def ask(i: int):  # noqa: ANN202 - each thread its own client, as separate apps would be
        return _client(gateway).chat.completions.create(
            model=EMBEDDED, messages=[{"role": "user", "content": f"Name {i + 2} colours."}],
            max_tokens=16, temperature=0.7, seed=i)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len({a.id for a in answers}) == 8 and all(a.choices[0].message.content for a in answers)
    peak = httpx.get(gateway.base_url.removesuffix("/v1") + "/health").json()["peak_parallel"][EMBEDDED]
    assert peak >= 2  # several sequences in one llama.cpp batch, not a queue in front of one context


def test_routes_to_the_deployment_and_to_both_ab_arms(gateway):
    from lightdom_tui.registry import deploy as dep
    from lightdom_tui.registry.ab import create_ab_test

    ws = open_workspace(gateway.home)
    try:
        dep.deploy(ws, "v2", ["summary"], health_check=dep.skip_health_check)
        test = create_ab_test(ws, EMBEDDED, "v2", split=0.5, task_types=["ranking"])
    finally:
        ws.close()
    client = _client(gateway)
    routed = client.chat.completions.with_raw_response.create(
        model="task:summary", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0)
    assert routed.headers["x-lightdom-version"] == "v2"

    seen: dict[str, set[str]] = {}
    for user in [f"user-{i}" for i in range(12)]:
        first = client.chat.completions.with_raw_response.create(
            model="task:ranking", user=user, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0)
        again = client.chat.completions.with_raw_response.create(  # the arm is sticky per user, here by header
            model="task:ranking", extra_headers={"X-Lightdom-User": user},
            messages=[{"role": "user", "content": "Hello"}], max_tokens=2, temperature=0)
        assert first.headers["x-lightdom-arm"] == again.headers["x-lightdom-arm"]
        seen.setdefault(first.headers["x-lightdom-arm"], set()).add(first.headers["x-lightdom-version"])
    assert seen == {"a": {EMBEDDED}, "b": {"v2"}}
    ws = open_workspace(gateway.home)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with ws.session() as session:
                outcomes = session.exec(select(ABOutcome).where(ABOutcome.ab_test_id == test.id)).all()
            if len(outcomes) == 24:
                break
            time.sleep(0.1)
        assert {o.arm for o in outcomes} == {"a", "b"} and all(o.signal == "validity" for o in outcomes)
    finally:
        ws.close()


def test_remote_fallback_and_remote_route(gateway):
    client = _client(gateway)
    fallback = client.chat.completions.with_raw_response.create(
        model="broken", messages=[{"role": "user", "content": "Topic: garden hose\nCount: 2"}], max_tokens=64)
    assert fallback.headers["x-lightdom-engine"] == "remote"
    body = fallback.parse()
    assert "garden_hose_id" in body.choices[0].message.content and body.model == "deepseek-chat"
    row, _example = _log_row(gateway, body.id)
    assert row.fallback and row.engine == "remote" and "cannot load" in row.error

    routed = client.chat.completions.create(model="cluster", messages=[{"role": "user", "content": "Topic: kettle"}])
    assert "kettle_id" in routed.choices[0].message.content
    assert gateway.remote.requests[-1]["model"] == "big-model"
    listed = {m.id: m for m in client.models.list().data}
    assert {EMBEDDED, "v2", "task:attribute_generation", "cluster"} <= set(listed)
    metrics = httpx.get(gateway.base_url.removesuffix("/v1") + "/metrics").text
    assert 'lightdom_fallbacks_total{version="deepseek-chat",arm="",engine="remote"} 1' in metrics
    assert "lightdom_request_latency_seconds_bucket" in metrics


def test_a_call_and_its_feedback_land_in_curation(gateway):
    client = _client(gateway)
    messages = [{"role": "user", "content": "My email is ann@example.com. Say thanks."}]
    accepted = client.chat.completions.create(model=EMBEDDED, messages=messages, max_tokens=8, temperature=0)
    corrected = client.chat.completions.create(model=EMBEDDED, messages=[{"role": "user", "content": "Say bye"}],
                                               max_tokens=8, temperature=0)
    post = httpx.Client(base_url=gateway.base_url, timeout=30)
    verdict = post.post("/feedback", json={"id": accepted.id, "verdict": "accept"}).json()
    fixed = post.post("/feedback", json={"id": corrected.id, "verdict": "correct", "reason": "too curt",
                                         "correction": "Goodbye, and thanks for visiting!"}).json()
    assert post.post("/feedback", json={"id": "chatcmpl-nope", "verdict": "accept"}).status_code == 404
    assert post.post("/feedback", json={"id": accepted.id, "verdict": "maybe"}).status_code == 400

    ws = open_workspace(gateway.home)
    try:
        with ws.session() as session:
            example = session.get(Example, verdict["example_id"])
            original = session.get(Example, fixed["example_id"])
            correction = session.get(Example, fixed["corrected_example_id"])
            assert example.status == "approved" and "ann@example.com" not in example.messages_json  # scrubbed
            assert json.loads(example.metadata_json)["gateway"]["id"] == accepted.id
            assert original.status == "rejected" and original.reject_reason == "too curt"
            assert correction.status == "approved" and correction.parent_id == original.id
            assert "Goodbye, and thanks" in correction.messages_json
    finally:
        ws.close()


def test_non_loopback_bind_needs_a_key(gateway, launch):
    import subprocess
    import sys

    start_gateway, stop_gateway = launch
    refused = subprocess.run([sys.executable, "-m", "lightdom_tui.cli", "--home", str(gateway.home), "serve",
                              "--host", "0.0.0.0", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "needs gateway API keys" in refused.stderr and "Traceback" not in refused.stderr
    from lightdom_tui.serving.gatewaykeys import add_key

    key = add_key(gateway.home, "my-app")
    assert key not in (gateway.home / "storage" / "gateway_keys.json").read_text()  # stored hashed
    process, info = start_gateway(gateway.home, "--host", "0.0.0.0")
    try:
        url = f"http://127.0.0.1:{info['port']}/v1/models"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer ldg-wrong"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        stop_gateway(process)
