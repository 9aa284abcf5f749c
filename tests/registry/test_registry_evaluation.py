"""Evaluation: scoring against hand-computed cases, references parsing, dataset items, a real run."""

from __future__ import annotations

import json
import math

import pytest

from lightdom_tui.db.jsoncol import dumps
from lightdom_tui.db.models import Evaluation
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import validate_attribute_answer
from lightdom_tui.registry import evaluation as ev
from lightdom_tui.registry.candidate import AttributeGeneration, raw_names
from lightdom_tui.registry.perplexity import answer_loss
from lightdom_tui.registry.versions import get_version

ANSWER = json.dumps({"attributes": [
    {"name": "title", "type": "string", "description": ""},
    {"name": "author_name", "type": "string", "description": ""},
    {"name": "published_at", "type": "number", "description": ""},
    {"name": "title", "type": "string", "description": ""},
    {"name": "word_count", "type": "number", "description": ""},
]})


def _generation(text: str, latency: float = 100.0, tokens: int = 50) -> AttributeGeneration:
    return AttributeGeneration("blog post", text, validate_attribute_answer(text), latency, tokens,
                               names=raw_names(text))


def test_score_item_hand_computed():
    reference = ev.Reference("blog post", ["Title", "Author-Name", "tags"], {"title": "string", "author_name": "number"})
    score = ev.score_item(_generation(ANSWER), reference)
    # predicted unique {title, author_name, published_at, word_count}; reference {title, author_name, tags}
    assert (score.predicted, score.reference, score.matched) == (4, 3, 2)
    assert score.precision == 0.5 and score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))  # 0.5714
    assert (score.raw_names, score.unique_names) == (5, 4)
    assert (score.type_matched, score.type_checked) == (1, 2)  # author_name: string vs reference number
    assert (score.plausible, score.plausibility_checked) == (1, 2)  # published_at as number is implausible
    bad = _generation("not json", latency=300.0, tokens=0)
    metrics = ev.attribute_metrics([_generation(ANSWER), bad], [score, ev.score_item(bad, reference)])
    assert metrics["json_validity"] == 0.5
    assert metrics["schema_adherence"] == 0.0  # the duplicate name breaks the schema contract
    assert metrics["precision"] == 0.5 and metrics["recall"] == pytest.approx(2 / 6)
    assert metrics["duplicate_name_rate"] == pytest.approx(1 / 5)
    assert metrics["latency_p50_ms"] == 200.0
    assert metrics["tokens_per_s"] == pytest.approx(500.0)  # 50 tokens in 0.1 s; the failed call has none


def test_read_references_errors(tmp_path):
    path = tmp_path / "refs.jsonl"
    path.write_text('{"topic": "blog post", "reference": ["title"]}\n\n{"topic": "", "reference": ["x"]}\n')
    with pytest.raises(LightdomError, match=r"refs.jsonl: line 3: field 'topic'"):
        ev.read_references(path)
    path.write_text('{"topic": "a", "reference": "title"}\n')
    with pytest.raises(LightdomError, match="line 1: field 'reference'"):
        ev.read_references(path)
    path.write_text('{"topic": "a", "reference": ["t"]}\n{oops\n')
    with pytest.raises(LightdomError, match="line 2: not JSON"):
        ev.read_references(path)


def test_dataset_items_and_tool_items(workspace):
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example

    with workspace.session() as s:
        for i in range(12):
            answer = {"attributes": [{"name": f"field_{i}", "type": "number", "description": "d"}]}
            add_example(s, [{"role": "user", "content": f"Topic: topic {i}\nCount: 1"},
                            {"role": "assistant", "content": json.dumps(answer)}],
                        task_type="attribute_generation", source="manual", status="approved",
                        metadata={"topic": f"topic {i}"} if i % 2 else None)
            args = json.dumps({"url": f"https://e.com/{i}"}, sort_keys=True)
            add_example(s, [{"role": "system", "content": "Tools:\n- fetch_page: get a page"},
                            {"role": "user", "content": f"Get page {i}"},
                            {"role": "assistant", "content": None, "tool_calls": [
                                {"id": "c1", "type": "function", "function": {"name": "fetch_page", "arguments": args}}]},
                            {"role": "tool", "tool_call_id": "c1", "name": "fetch_page", "content": "{}"},
                            {"role": "assistant", "content": "done"}],
                        task_type="tool_use", source="toolgen", status="approved")
    build_dataset(workspace, "mixed", split=0.5, seed=1)
    with workspace.session() as s:
        _, refs, skipped = ev.dataset_references(s, "mixed")
        _, tools, _ = ev.tool_items(s, "mixed@1")
    assert refs and skipped == 0
    for ref in refs:  # topic from metadata, else from the "Topic:" line; names and types from the answer
        number = ref.topic.split()[-1]
        assert ref.names == [f"field_{number}"] and ref.types == {f"field_{number}": "number"}
    assert tools and all(t.name == "fetch_page" and [m["role"] for m in t.messages] == ["system", "user"] for t in tools)
    assert ev.canonical_arguments('{"b": 1, "a": [1, 2]}', sort_keys=True) == '{"a":[1,2],"b":1}'
    assert ev.canonical_arguments({"b": 1, "a": 2}, sort_keys=False) == '{"b":1,"a":2}'
    assert ev.canonical_arguments("{oops", sort_keys=True) is None


def test_compare_prefers_a_shared_source(workspace, versions):
    with workspace.session() as s:
        v1, v2 = get_version(s, "v1"), get_version(s, "v2")
        s.add(Evaluation(version_id=v1.id, references_file="/r.jsonl", n=5, metrics_json=dumps({"f1": 0.5, "errors": 1})))
        s.add(Evaluation(version_id=v2.id, references_file="/r.jsonl", n=5, metrics_json=dumps({"f1": 0.75, "errors": 0})))
        s.add(Evaluation(version_id=v2.id, references_file="/other.jsonl", n=5, metrics_json=dumps({"f1": 0.1})))
    with workspace.session() as s:
        table = ev.compare(s, "v1", "v2")
        with pytest.raises(LightdomError, match="no attribute_generation evaluation"):
            ev.compare(s, "v1", "v3")
    assert table.same_source
    assert [(r.metric, r.a, r.b, r.delta) for r in table.rows] == [("errors", 1, 0, -1), ("f1", 0.5, 0.75, 0.25)]


@pytest.mark.slow
def test_evaluate_embedded_model_on_a_dataset(workspace):
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example

    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    workspace.settings.serving.max_tokens = 160
    with workspace.session() as s:
        for i, topic in enumerate(["blog post", "product page", "recipe", "job ad"]):
            answer = {"attributes": [{"name": "title", "type": "string", "description": "The title"},
                                     {"name": "published_at", "type": "date", "description": "When"}]}
            add_example(s, [{"role": "user", "content": f"Topic: {topic}\nCount: 2"},
                            {"role": "assistant", "content": json.dumps(answer)}],
                        task_type="attribute_generation", source="manual", status="approved",
                        metadata={"topic": topic})
    build_dataset(workspace, "attrs", split=0.5, seed=3)
    result = ev.evaluate(workspace, "smollm2-135m-instruct", dataset="attrs", limit=1, perplexity_items=3)
    m = result.metrics
    assert result.n == 1 and m["errors"] == 0
    assert m["json_validity"] == 1.0  # grammar-constrained output always parses
    for key in ("precision", "recall", "f1", "schema_adherence"):
        assert 0.0 <= m[key] <= 1.0
    assert m["latency_p50_ms"] > 0 and m["tokens_per_s"] > 0
    assert m["loss_tokens"] > 0 and m["perplexity"] == pytest.approx(math.exp(m["eval_loss"]))
    with workspace.session() as s:
        stored = s.get(Evaluation, result.evaluation_id)
        assert stored.n == 1 and stored.dataset_id is not None
        assert json.loads(stored.metrics_json)["f1"] == m["f1"]
        version = get_version(s, "smollm2-135m-instruct")
    # the scorer is a real language model: a plausible answer is likelier than noise
    prompt = [{"role": "user", "content": "Topic: blog post\nCount: 1"}]
    plausible = answer_loss(workspace, version, [prompt + [{"role": "assistant", "content": '{"attributes": '
                            '[{"name": "title", "type": "string", "description": "The title of the post"}]}'}]])
    noise = answer_loss(workspace, version, [prompt + [{"role": "assistant", "content": "qz} 7x ]]{ vb#k; wq"}]])
    assert plausible.eval_loss < noise.eval_loss
