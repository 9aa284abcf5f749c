"""Remote engine and router fallback against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from lightdom_tui.db.models import RequestLog
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import render_attribute_messages, validate_attribute_answer


def _engine(ws, key=None):  # noqa: ANN001, ANN202
    import os

    from lightdom_tui.serving.remote import RemoteEngine

    return RemoteEngine(ws.settings.serving, api_key=key or os.environ[ws.settings.serving.api_key_env])


def _chat(engine):  # noqa: ANN001, ANN202
    return engine.chat(render_attribute_messages("weather station", 3), max_tokens=64, temperature=0.0,
                       response_format={"type": "json_object", "schema": {"type": "object"}})


def test_remote_answer_parsed_and_schema_not_sent_to_openai_style_api(remote_ws, fake_api):
    _, state = fake_api
    reply = _chat(_engine(remote_ws))
    assert reply.finish_reason == "stop" and reply.prompt_tokens == 40 and reply.completion_tokens > 0
    assert [a["name"] for a in validate_attribute_answer(reply.text).attributes][:1] == ["weather_station_id"]
    assert state.requests[0]["response_format"] == {"type": "json_object"}
    assert state.requests[0]["model"] == remote_ws.settings.serving.remote_model


def test_5xx_retried_with_backoff_then_answer(remote_ws, fake_api):
    _, state = fake_api
    state.script = ["500", "500", "ok"]
    reply = _chat(_engine(remote_ws))
    assert len(state.requests) == 3 and reply.finish_reason == "stop"


def test_persistent_5xx_gives_clear_error_after_bounded_attempts(remote_ws, fake_api):
    _, state = fake_api
    state.script = ["500"] * 5
    with pytest.raises(LightdomError, match=r"HTTP 500 after 3 attempt\(s\)"):
        _chat(_engine(remote_ws))
    assert len(state.requests) == 3


def test_timeout_never_hangs_past_the_bound(remote_ws, fake_api):
    _, state = fake_api
    remote_ws.settings.serving.remote_retries = 1
    state.script = ["slow", "slow"]
    started = time.monotonic()
    with pytest.raises(LightdomError, match=r"no answer within 0.5 s after 2 attempt"):
        _chat(_engine(remote_ws))
    # 2 × 0.5 s timeouts + 0.5 s backoff, with slack; the server would take 6 s.
    assert time.monotonic() - started < 2.5


def test_malformed_json_and_wrong_key_are_clear_errors(remote_ws, fake_api):
    _, state = fake_api
    state.script = ["malformed"]
    with pytest.raises(LightdomError, match="malformed response"):
        _chat(_engine(remote_ws))
    before = len(state.requests)
    with pytest.raises(LightdomError, match="401 unauthorized.*keys set deepseek") as caught:
        _chat(_engine(remote_ws, key="sk-wrong-000000000000"))
    assert len(state.requests) == before + 1  # a refused key is not retried
    assert "sk-wrong" not in str(caught.value)


def _register_broken_gguf(ws) -> str:  # noqa: ANN001
    from lightdom_tui.registry.versions import register_version

    path = ws.models_dir / "gguf" / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)  # a header llama.cpp refuses
    with ws.session() as session:
        register_version(session, version="broken", kind="gguf", format="gguf", path=path, quant="q8_0")
    return "broken"


def test_router_falls_back_to_remote_when_local_fails_and_logs_both(remote_ws):
    from lightdom_tui.serving.router import generate_attributes

    model = _register_broken_gguf(remote_ws)
    result = generate_attributes(remote_ws, "blog post", count=3, model=model)
    assert result.engine == "remote" and result.fallback and "cannot load" in result.local_error
    assert [a["name"] for a in result.attributes] == ["blog_post_id", "blog_post_name", "blog_post_created_at"]
    with remote_ws.session() as session:
        rows = session.exec(select(RequestLog).order_by(RequestLog.id)).all()
    assert [(r.engine, r.success, r.fallback) for r in rows] == [("local", False, False), ("remote", True, True)]
    assert rows[0].version_id is not None and rows[1].id == result.request_log_id
    assert rows[1].model_name == remote_ws.settings.serving.remote_model and rows[1].completion_tokens > 0


def test_router_length_answer_is_retried_not_half_parsed(remote_ws, fake_api):
    from lightdom_tui.serving.router import generate_attributes

    _, state = fake_api
    state.script = ["length", "ok"]
    result = generate_attributes(remote_ws, "invoice", count=2, model=_register_broken_gguf(remote_ws))
    assert result.engine == "remote" and len(result.attributes) == 2
    assert [r["max_tokens"] for r in state.requests] == [remote_ws.settings.serving.max_tokens,
                                                         2 * remote_ws.settings.serving.max_tokens]


def test_fallback_off_or_remote_down_is_one_clear_error(remote_ws, fake_api):
    from lightdom_tui.serving.router import generate_attributes

    _, state = fake_api
    model = _register_broken_gguf(remote_ws)
    remote_ws.settings.serving.fallback = False
    with pytest.raises(LightdomError, match="cannot load.*remote fallback is off"):
        generate_attributes(remote_ws, "blog post", count=3, model=model)
    remote_ws.settings.serving.fallback = True
    remote_ws.settings.serving.remote_retries = 0
    state.script = ["500"]
    with pytest.raises(LightdomError, match="local engine failed .*remote fallback failed: .*HTTP 500"):
        generate_attributes(remote_ws, "blog post", count=3, model=model)
    with remote_ws.session() as session:
        failed = session.exec(select(RequestLog).where(RequestLog.engine == "remote")).all()
    assert len(failed) == 1 and not failed[0].success and "HTTP 500" in failed[0].error


def test_ab_route_arm_and_test_are_recorded_on_result_and_log(remote_ws):
    from lightdom_tui.db.models import ABTest, ModelVersion
    from lightdom_tui.registry.routing import ab_salt, assign_arm
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.serving.router import generate_attributes

    ids = []
    with remote_ws.session() as session:
        for name in ("arm-a", "arm-b"):
            path = remote_ws.models_dir / "gguf" / f"{name}.gguf"
            path.write_bytes(b"GGUF" + b"\0" * 64)
            ids.append(register_version(session, version=name, kind="gguf", format="gguf", path=path).id)
        test = ABTest(name="t1", version_a_id=ids[0], version_b_id=ids[1], split=0.5)
        session.add(test)
        session.flush()
        test_id = test.id
    arms = set()
    for key in ("user-1", "user-2", "user-3", "user-4"):
        result = generate_attributes(remote_ws, "recipe", count=2, request_key=key)
        assert result.ab_test_id == test_id and result.arm == assign_arm(key, 0.5, ab_salt(test_id))
        arms.add(result.arm)
        with remote_ws.session() as session:
            row = session.get(RequestLog, result.request_log_id)
            local = session.exec(select(RequestLog).where(RequestLog.request_key == key, RequestLog.engine == "local")).one()
            served = session.get(ModelVersion, local.version_id)
        assert (row.arm, row.ab_test_id, row.request_key) == (result.arm, test_id, key)
        assert served.version == ("arm-a" if result.arm == "a" else "arm-b")
    assert arms == {"a", "b"}  # these four keys split across both arms
    from lightdom_tui.db.models import ABOutcome

    with remote_ws.session() as session:
        outcomes = session.exec(select(ABOutcome).where(ABOutcome.ab_test_id == test_id)).all()
    # each arm's own (broken) model failed: a validity failure per request, the remote answer not credited
    assert sorted((o.request_key, o.signal, o.success) for o in outcomes) == [
        (key, "validity", False) for key in ("user-1", "user-2", "user-3", "user-4")
    ]


def test_router_checks_alert_thresholds_every_nth_deployed_request(remote_ws):
    """A deployed model that always fails locally raises an error-rate alert from serving alone."""
    from lightdom_tui.db.models import Alert
    from lightdom_tui.registry import deploy as dep
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.serving.router import generate_attributes

    path = remote_ws.models_dir / "gguf" / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    with remote_ws.session() as session:
        register_version(session, version="broken", kind="gguf", format="gguf", path=path)
    dep.deploy(remote_ws, "broken", ["attribute_generation"], health_check=dep.skip_health_check)
    remote_ws.settings.monitoring.check_every = 1
    # each request logs two attempts for the deployment: the local failure and the remote answer
    for i in range(4):
        assert generate_attributes(remote_ws, f"topic {i}", count=2).engine == "remote"
    with remote_ws.session() as session:
        assert session.exec(select(Alert)).all() == []  # 8 attempts: below the 10-request minimum
    generate_attributes(remote_ws, "topic 4", count=2)
    with remote_ws.session() as session:
        alerts = session.exec(select(Alert)).all()
    assert [(a.metric, a.value) for a in alerts] == [("error_rate", 0.5)]
