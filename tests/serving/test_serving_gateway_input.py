"""Gateway input handling without a model: request fields, keys, routes, response formats."""

from __future__ import annotations

import json

import pytest

from lightdom_tui.errors import LightdomError
from lightdom_tui.serving.openai_chat import RequestError, parse_request, tool_schema


@pytest.mark.parametrize(("body", "field"), [
    ([], "body"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "5"}, "max_tokens"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "stop"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}},
     "response_format.type"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
])
def test_bad_requests_name_the_field(body, field):
    with pytest.raises(RequestError) as caught:
        parse_request(body)
    assert str(caught.value).startswith(f"{field}:") and "\n" not in str(caught.value)


def test_request_fields_and_tool_schema():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "g"}}]
    request = parse_request({"model": " task:x ", "messages": [{"role": "developer", "content": [
        {"type": "text", "text": "be brief"}]}, {"role": "user", "content": "hi"}], "stop": "END", "tools": tools,
        "stream": True, "stream_options": {"include_usage": True}, "max_completion_tokens": 7})
    assert (request.model, request.stop, request.max_tokens, request.include_usage) == ("task:x", ["END"], 7, True)
    assert request.messages[0] == {"role": "system", "content": "be brief"}
    auto = tool_schema(request)
    assert len(auto["anyOf"]) == 3 and auto["anyOf"][-1]["required"] == ["content"]  # auto: a tool or text
    request.tool_choice = {"type": "function", "function": {"name": "g"}}
    assert tool_schema(request)["properties"]["name"] == {"const": "g"}
    request.tool_choice = "none"
    assert tool_schema(request) is None
    request.tool_choice = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(RequestError, match="tool_choice.function.name"):
        tool_schema(request)


def test_response_formats_become_grammars():
    from lightdom_tui.inference.engine import grammar_for

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert grammar_for(None) is None and grammar_for({"type": "text"}) is None
    openai_shape = grammar_for({"type": "json_schema", "json_schema": {"name": "s", "strict": True, "schema": schema}})
    assert openai_shape == grammar_for({"type": "json_object", "schema": schema}) and "root" in openai_shape
    with pytest.raises(LightdomError, match="json_schema.schema"):
        grammar_for({"type": "json_schema", "json_schema": {"name": "s"}})


def test_gateway_keys_are_stored_hashed_and_checked(tmp_path):
    from lightdom_tui.serving.gatewaykeys import add_key, check_key, is_loopback, load_keys, revoke_key

    (tmp_path / "storage").mkdir()
    key = add_key(tmp_path, "app")
    stored = (tmp_path / "storage" / "gateway_keys.json").read_text()
    assert key not in stored and json.loads(stored)[0]["name"] == "app"
    assert (tmp_path / "storage" / "gateway_keys.json").stat().st_mode & 0o077 == 0
    keys = load_keys(tmp_path)
    assert check_key(keys, key) == "app" and check_key(keys, key[:-1]) is None and check_key(keys, None) is None
    with pytest.raises(LightdomError, match="exists"):
        add_key(tmp_path, "app")
    assert revoke_key(tmp_path, "app") and check_key(load_keys(tmp_path), key) is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_remote_routes_are_parsed_or_named():
    from lightdom_tui.serving.targets import remote_routes

    routes = remote_routes(["cluster=http://10.0.0.5:8000/v1#Qwen2.5-7B", "small=http://h:1/v1"])
    assert routes["cluster"].model == "Qwen2.5-7B" and routes["small"].model == "small"
    with pytest.raises(LightdomError, match=r"serving.remote_routes\[0\]"):
        remote_routes(["no-url"])


def test_sample_rates_per_route_default_to_the_global_one():
    from lightdom_tui.serving.calllog import sample_rate
    from lightdom_tui.settings import ServingSettings, Settings, update_setting

    serving = ServingSettings(log_sample_rate=0.2, log_sample_routes=["task:attribute_generation=1", "cluster=0.0"])
    assert sample_rate(serving, "task:attribute_generation") == 1.0 and sample_rate(serving, "cluster") == 0.0
    assert sample_rate(serving, "smollm2-135m-instruct") == 0.2
    with pytest.raises(LightdomError, match=r"serving.log_sample_routes.*'cluster=2' is not ROUTE=RATE"):
        update_setting(Settings(), "serving.log_sample_routes", '["cluster=2"]')
