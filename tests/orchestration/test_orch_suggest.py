"""Suggestions → attributes and curated examples (+ A/B outcomes); runs → training examples;
and the real embedded model through the real router (slow)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import ABOutcome, Attribute, AttributeSuggestion, Example
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.executor import run_workflow
from lightdom_tui.orchestration.suggest import accept, edit, list_suggestions, reject
from lightdom_tui.orchestration.training_export import examples_from_run
from lightdom_tui.prompts import render_attribute_messages


def _stream(ws, paths=None):
    with ws.session() as s:
        c = tree.create_campaign(s, "shop")
        w = tree.create_workflow(s, c.id, "crawl")
        svc = tree.create_service(s, w.id, "pages", type="file", config={"paths": paths or []})
        ds = tree.create_datastream(s, svc.id, "products", source="shop.example product pages")
        tree.create_attribute(s, ds.id, "title", selector="title", validation={"required": True})
        return w.id, ds.id


def _ab_test(ws, tmp_path):
    from lightdom_tui.registry.ab import create_ab_test
    from lightdom_tui.registry.versions import register_version

    with ws.session() as s:
        for name in ("model-a", "model-b"):
            path = tmp_path / f"{name}.gguf"
            path.write_bytes(name.encode())
            register_version(s, version=name, kind="gguf", format="gguf", path=path)
    return create_ab_test(ws, "model-a", "model-b", task_types=["attribute_generation"])


def test_accept_edit_reject_feed_curation_and_ab(ws, tmp_path):
    _, ds_id = _stream(ws)
    test = _ab_test(ws, tmp_path)
    # what the router stored for one request answered by arm b of the A/B test
    proposed = [("price", "number", "Price in EUR"), ("sku_code", "string", "Stock keeping unit"),
                ("colour", "string", "Main colour")]
    with ws.session() as s:
        ids = []
        for name, kind, description in proposed:
            row = AttributeSuggestion(datastream_id=ds_id, topic="product page", name=name, type=kind,
                                      description=description, model_version="model-b", engine="local",
                                      ab_test_id=test.id, arm="b")
            s.add(row)
            s.flush()
            ids.append(row.id)
    with ws.session() as s:
        accepted = accept(s, ids[0], selector="span.price")
        edited = edit(s, ids[1], name="sku", description="SKU as printed on the page",
                      validation={"pattern": "^SKU-"})
        rejected = reject(s, ids[2], reason="colour is not on these pages")
        with pytest.raises(LightdomError, match="already accepted"):
            accept(s, ids[0])
        with pytest.raises(LightdomError, match="reason: required"):
            reject(s, ids[1], reason=" ")
    with ws.session() as s:
        attrs = {a.name: a for a in s.exec(select(Attribute).where(Attribute.datastream_id == ds_id))}
        assert set(attrs) == {"title", "price", "sku"}
        assert attrs["price"].generated_by == "model-b" and attrs["price"].selector == "span.price"
        assert loads(attrs["sku"].validation_json) == {"pattern": "^SKU-"}
        examples = {e.id: e for e in s.exec(select(Example))}
        assert len(examples) == 4  # accepted, correction + its rejected original, rejected
        approved = examples[accepted.example_id]
        assert approved.status == "approved" and approved.task_type == "attribute_generation"
        messages = json.loads(approved.messages_json)
        context = "Source: shop.example product pages; Existing attributes: title"
        assert messages[:2] == render_attribute_messages("product page", 1, context)
        assert json.loads(messages[2]["content"]) == {"attributes": [
            {"name": "price", "type": "number", "description": "Price in EUR"}]}
        meta = loads(approved.metadata_json)
        assert (meta["topic"], meta["model"], meta["arm"], meta["decision"]) == ("product page", "model-b", "b",
                                                                                 "accepted")
        correction = examples[edited.example_id]
        original = examples[edited.parent_example_id]
        assert correction.status == "approved" and correction.parent_id == original.id
        assert original.status == "rejected" and "sku_code" in original.messages_json
        negative = examples[rejected.example_id]
        assert negative.status == "rejected" and negative.reject_reason == "colour is not on these pages"
        outcomes = [(o.arm, o.signal, o.success) for o in s.exec(select(ABOutcome).order_by(ABOutcome.id))]
        assert outcomes == [("b", "accept", True), ("b", "accept", True), ("b", "reject", False)]
        assert [r.status for r in list_suggestions(s, ds_id, status=None)] == ["accepted", "edited", "rejected"]


def test_runs_become_training_examples(ws, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(4):
        price = f"<span class=price>{n}.50</span>" if n else ""  # one page lacks a price
        (pages / f"{n}.html").write_text(f"<title>Item {n}</title><h1>Item {n}</h1>{price}")
    workflow_id, ds_id = _stream(ws, [str(pages / "*.html")])
    with ws.session() as s:
        tree.create_attribute(s, ds_id, "heading", selector="h1")
        tree.create_attribute(s, ds_id, "price", type="number", selector="span.price")
        tree.update_datastream(s, ds_id, transformations=[{"op": "cast", "to": "number", "attribute": "price"}])
    with pytest.raises(LightdomError, match="no completed run"):
        examples_from_run(ws, workflow_id)
    run = run_workflow(ws, workflow_id)
    assert run.metrics["attributes"][str(ds_id)]["price"] == {"valid": 3, "invalid": 0, "missing": 1}
    result = examples_from_run(ws, workflow_id, min_valid_rate=0.8)
    assert len(result.created) == 1 and result.duplicates == []
    with ws.session() as s:
        example = s.get(Example, result.created[0])
        messages = json.loads(example.messages_json)
        answer = json.loads(messages[-1]["content"])
        # price was valid on 3 of 4 pages (75 % < 80 %): left out
        assert [a["name"] for a in answer["attributes"]] == ["title", "heading"]
        assert "Count: 2" in messages[1]["content"] and "Sample record:" in messages[1]["content"]
        meta = loads(example.metadata_json)
        assert meta["topic"] == "products" and meta["run_id"] == run.run_id and example.source == "workflow"
    again = examples_from_run(ws, workflow_id, min_valid_rate=0.8)
    assert again.created == [] and again.duplicates == result.created  # dedup-aware


@pytest.mark.slow
def test_real_model_suggest_bundle_and_llm_service(workspace):
    """One real call to the embedded model through the real router; the bundle and the llm
    service then send the identical request and are answered from the router's cache."""
    import lightdom_tui.serving.router  # noqa: F401 - a router that fails to import fails this test, never skips it
    from lightdom_tui.orchestration.bundles import create_bundle
    from lightdom_tui.orchestration.destinations import read_rows
    from lightdom_tui.orchestration.suggest import suggest_attributes

    context = "Category: seo; page element: title"  # what create_bundle sends for topic "title"
    with workspace.session() as s:
        c = tree.create_campaign(s, "real")
        w = tree.create_workflow(s, c.id, "llm")
        svc = tree.create_service(s, w.id, "model", type="llm",
                                  config={"topics": ["seo title"], "count": 3, "context": context})
        ds = tree.create_datastream(s, svc.id, "ideas")
        tree.create_attribute(s, ds.id, "names", type="array", selector="$.attributes[*].name")
        tree.create_attribute(s, ds.id, "model", selector="$.model", validation={"required": True})
        workflow_id, ds_id = w.id, ds.id

    result = suggest_attributes(workspace, ds_id, "seo title", 3, context=context)
    assert result.engine == "local" and result.model == "smollm2-135m-instruct"
    assert result.suggestions, "the embedded model proposed no new attribute"
    with workspace.session() as s:
        pending = list_suggestions(s, ds_id)
        assert [p.name for p in pending] == [x["name"] for x in result.suggestions]
        assert all(p.model_version == result.model and p.request_log_id for p in pending)
        decision = accept(s, pending[0].id)
        assert s.get(Attribute, decision.attribute_id).generated_by == result.model
        assert s.get(Example, decision.example_id).status == "approved"

    bundle = create_bundle(workspace, "seo-real", topics="title", category="seo", count=3)
    # same request → the same answer (from the cache): every suggested name is in the bundle
    assert {a["name"] for a in bundle.attributes} >= {x["name"] for x in result.suggestions}
    assert bundle.models == [result.model]

    run = run_workflow(workspace, workflow_id)
    assert run.status == "completed" and run.metrics["rows"] == 1
    row = read_rows(workspace.root, "", ds_id, "ideas")[0]
    assert row["model"] == result.model and pending[0].name in json.loads(row["names"])
