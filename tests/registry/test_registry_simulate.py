"""Dry-run simulation: replay sources, comparison maths, and a real replay that writes nothing."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from lightdom_tui.db.models import (
    ABOutcome,
    AttributeSuggestion,
    Example,
    RequestLog,
    ResponseCache,
)
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry import simulate as sim


@pytest.fixture()
def live_history(workspace, datastream):
    """One suggested-and-judged request from the campaign tree and one logged call."""
    from lightdom_tui.curation.logging import log_call

    with workspace.session() as s:
        log = RequestLog(engine="local", latency_ms=900.0)
        s.add(log)
        s.flush()
        stream = datastream
        for name, kind, status in (("title", "string", "accepted"), ("Author", "string", "rejected"),
                                   ("published_at", "date", "accepted")):
            s.add(AttributeSuggestion(datastream_id=stream, topic="blog post", name=name, type=kind, status=status,
                                      request_log_id=log.id, model_version="smollm2-135m-instruct"))
    answer = {"attributes": [{"name": "price", "type": "number", "description": "cost"},
                             {"name": "sku", "type": "string", "description": "id"}]}
    log_call(workspace=workspace, task_type="attribute_generation", prompt="Topic: product page\nCount: 2",
             output=json.dumps(answer), metadata={"topic": "product page"})


def test_replay_items_from_suggestions_and_logs(workspace, live_history):
    with workspace.session() as s:
        source, items = sim.replay_items(s, limit=10)
    assert source.startswith("live log")
    assert [i.topic for i in items] == ["blog post", "product page"]
    blog, product = items
    assert blog.accepted_names == {"title", "published_at"} and blog.rejected_names == {"author"}
    assert blog.live_decision == "approved" and not blog.live_valid  # "Author" is not snake_case
    assert [a["name"] for a in product.live_attributes] == ["price", "sku"] and product.live_valid
    assert product.live_decision == "pending"


def test_comparison_maths():
    assert sim.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert sim.jaccard(set(), set()) == 1.0
    p = {"string": 0.5, "number": 0.5}
    assert sim.total_variation(p, {"string": 1.0}) == pytest.approx(0.5)
    assert sim.total_variation(p, p) == 0.0
    assert sim.total_variation({}, p) is None


def test_simulate_refuses_nothing_to_replay(workspace):
    with pytest.raises(LightdomError, match="nothing to replay"):
        sim.simulate(workspace, "smollm2-135m-instruct")


def _counts(workspace) -> tuple[int, ...]:
    with workspace.session() as s:
        return tuple(s.exec(select(func.count()).select_from(t)).one()
                     for t in (RequestLog, Example, ABOutcome, AttributeSuggestion, ResponseCache))


@pytest.mark.slow
def test_simulate_embedded_model_touches_nothing(workspace, live_history):
    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    workspace.settings.serving.max_tokens = 160
    before = _counts(workspace)
    result = sim.simulate(workspace, "smollm2-135m-instruct", limit=2)
    assert _counts(workspace) == before  # no request log, example, outcome, suggestion or cache row
    assert result.n == 2 and len(result.items) == 2
    s = result.summary
    assert 0.0 <= s["agreement"] <= 1.0 and 0.0 <= s["validity"] <= 1.0
    assert s["live_validity"] == 0.5
    assert sum(s["rule_decisions"].values()) == 2
    assert s["accepted_names_kept"] is not None and s["rejected_names_repeated"] is not None
    assert result.rules["min_quality"] == sim.DEFAULT_MIN_QUALITY
    assert result.verdict
