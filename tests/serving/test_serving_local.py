"""The local llama.cpp engine on the embedded SmolLM2-135M, through the router."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlmodel import select

from lightdom_tui.db.models import RequestLog
from lightdom_tui.prompts import ATTRIBUTE_TYPES, SNAKE_CASE


@pytest.mark.slow
def test_embedded_model_generates_valid_attributes_then_cache_answers(workspace):
    from lightdom_tui.serving.router import generate_attributes

    workspace.settings.serving.n_threads = 1  # robust on a shared 2-core box
    workspace.settings.serving.max_tokens = 40  # too short for an answer: exercises the length retry
    first = generate_attributes(workspace, "blog post", count=3)
    assert first.engine == "local" and first.model == "smollm2-135m-instruct" and not first.fallback
    assert first.calls >= 2  # 40 tokens cannot hold the JSON: retried with a doubled cap, never half-parsed
    names = [a["name"] for a in first.attributes]
    assert 1 <= len(names) <= 3 and len(set(names)) == len(names)
    assert all(SNAKE_CASE.match(n) for n in names) and all(a["type"] in ATTRIBUTE_TYPES for a in first.attributes)

    again = generate_attributes(workspace, "blog post", count=3)
    assert again.engine == "cache" and again.cached and again.attributes == first.attributes
    assert again.latency_ms < first.latency_ms
    with workspace.session() as session:
        rows = session.exec(select(RequestLog).order_by(RequestLog.id)).all()
    assert [(r.engine, r.success, r.cached) for r in rows] == [("local", True, False), ("cache", True, True)]
    assert rows[0].completion_tokens and rows[0].prompt_tokens and rows[0].version_id == first.version_id
    assert rows[0].id == first.request_log_id


def test_engine_pool_caches_per_version_reloads_changed_files_and_evicts(tmp_path, embedded_gguf):
    from lightdom_tui.serving.local import EnginePool
    from lightdom_tui.settings import ServingSettings

    copy = tmp_path / "copy.gguf"
    shutil.copyfile(embedded_gguf, copy)
    pool = EnginePool(ServingSettings(n_threads=1, n_ctx=256, parallel=2), max_loaded=1)
    try:
        first = pool.get("a", copy)
        assert pool.get("a", copy) is first  # one loaded model per version
        job = first.submit([{"role": "user", "content": "Hi"}], max_tokens=8)
        shutil.copyfile(embedded_gguf, tmp_path / "new.gguf")
        (tmp_path / "new.gguf").replace(copy)  # redeployed as the registry writes: temp file + rename
        second = pool.get("a", copy)
        # The old model was unloaded only after the request in flight on it finished.
        assert second is not first and first._closed and job.future.done()
        assert job.future.result().completion_tokens >= 1
        third = pool.get("b", embedded_gguf)
        assert pool.loaded() == ["b"] and second._closed and not third._closed
        assert pool.drop("b") and pool.loaded() == [] and not pool.drop("b")
    finally:
        pool.close()


def test_version_prompts_render_the_request(workspace):
    from lightdom_tui.prompts import DEFAULT_SYSTEM_PROMPT
    from lightdom_tui.serving.router import _prompts_for

    stored = {"attribute_generation": {"system": "Only JSON.", "user_template": "T={topic} N={count}{context_block}"}}
    assert _prompts_for(stored, "attribute_generation").system == "Only JSON."
    assert _prompts_for(stored, "health_check").system == "Only JSON."  # attribute requests under another label
    assert _prompts_for({}, "other").system == DEFAULT_SYSTEM_PROMPT
    assert _prompts_for({"system": "Flat."}, "attribute_generation").system == "Flat."
    assert json.dumps(_prompts_for({}, "attribute_generation").user_template)
