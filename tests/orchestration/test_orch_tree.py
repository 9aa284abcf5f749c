"""Campaign-tree CRUD: validation errors name the field, cascading deletes need confirmation,
documents round-trip exactly, bundles are all-or-nothing."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from lightdom_tui.db.models import Attribute, Campaign, DataStream, Service, Workflow, WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.bundles import create_bundle
from lightdom_tui.orchestration.documents import (
    export_campaign,
    export_workflow,
    import_campaign,
    import_workflow,
    read_document,
    write_document,
)
from lightdom_tui.orchestration.webhook import issue_token


def _branch(s):
    c = tree.create_campaign(s, "seo audit", description="d", status="active", start_date="2026-01-01",
                             end_date="2026-12-31T18:00")
    w = tree.create_workflow(s, c.id, "daily", trigger="schedule",
                             trigger_config={"cron": "0 6 * * *", "timezone": "Europe/Berlin"}, status="active",
                             concurrency=3)
    svc = tree.create_service(s, w.id, "site", type="html", config={"urls": ["https://example.org/"],
                                                                     "timeout_s": 5})
    ds = tree.create_datastream(s, svc.id, "pages", source="example.org", destination="sqlite:pages",
                                transformations=[{"op": "trim"}, {"op": "regex_replace", "pattern": "\\s+",
                                                                  "replacement": " ", "attribute": "title"}])
    tree.create_attribute(s, ds.id, "title", selector="title", validation={"required": True, "maxLength": 70})
    tree.create_attribute(s, ds.id, "h1_count", type="number", selector="h1", validation={"min": 0},
                          generated_by="smollm2-135m-instruct")
    hook = tree.create_workflow(s, c.id, "on push", trigger="webhook")
    issue_token(s, hook.id)
    return c, w, svc, ds


CASES = [
    (lambda s, ids: tree.create_campaign(s, ""), "campaign.name: required"),
    (lambda s, ids: tree.create_campaign(s, "x", status="running"), "campaign.status: 'running' is not one of"),
    (lambda s, ids: tree.create_campaign(s, "x", start_date="2026-05-01", end_date="2026-01-01"),
     "campaign.end_date: before start_date"),
    (lambda s, ids: tree.create_campaign(s, "x", start_date="next week"), "campaign.start_date: 'next week'"),
    (lambda s, ids: tree.create_campaign(s, "seo audit"), "campaign.name: 'seo audit' already exists"),
    (lambda s, ids: tree.create_workflow(s, 999, "w"), "campaign 999: not found"),
    (lambda s, ids: tree.create_workflow(s, ids[0], "w", concurrency=0), "workflow.concurrency"),
    (lambda s, ids: tree.create_service(s, ids[1], "s", type="ftp"), "service.type: 'ftp'"),
    (lambda s, ids: tree.create_service(s, ids[1], "s", config={"urls": ["ftp://x"]}), "service.config.urls[0]"),
    (lambda s, ids: tree.create_service(s, ids[1], "s", config="{broken"), "service.config: not valid JSON"),
    (lambda s, ids: tree.create_datastream(s, ids[2], "d", destination="sqlite:drop table"),
     "datastream.destination"),
    (lambda s, ids: tree.create_datastream(s, ids[2], "d", transformations=[{"op": "reverse"}]),
     "datastream.transformations[0].op: 'reverse'"),
    (lambda s, ids: tree.create_datastream(s, ids[2], "d", transformations=[{"op": "regex_replace",
                                                                            "pattern": "("}]),
     "datastream.transformations[0].pattern: invalid regular expression"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "Title"), "attribute.name: 'Title' must be snake_case"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "title"), "attribute.name: 'title' already exists"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", type="blob"), "attribute.type: 'blob'"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", validation={"minLength": -1}),
     "attribute.validation.minLength"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", validation={"pattern": "[a-"}),
     "attribute.validation.pattern: invalid regular expression"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", validation={"min": 5, "max": 1}),
     "attribute.validation.min: 5 is greater than max 1"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", validation={"colour": "red"}),
     "attribute.validation.colour: unknown rule"),
    (lambda s, ids: tree.create_attribute(s, ids[3], "a", selector="h1[[["), "attribute.selector"),
]


def test_validation_errors_name_the_field(ws):
    with ws.session() as s:
        c, w, svc, ds = _branch(s)
        ids = (c.id, w.id, svc.id, ds.id)
    for call, message in CASES:
        with pytest.raises(LightdomError) as info:
            with ws.session() as s:
                call(s, ids)
        assert message in str(info.value), (message, str(info.value))
    with ws.session() as s:  # every failed call rolled back: the branch is as created
        assert [len(tree.list_workflows(s)), len(tree.list_services(s)), len(tree.list_datastreams(s)),
                len(tree.list_attributes(s))] == [2, 1, 1, 2]


def test_update_and_tree_children(ws):
    with ws.session() as s:
        c, w, svc, ds = _branch(s)
        tree.update_campaign(s, c.id, status="paused", description="new")
        tree.update_workflow(s, w.id, trigger_config={"cron": "*/10 * * * *", "timezone": "UTC"})
        attr = tree.list_attributes(s, ds.id)[0]
        tree.update_attribute(s, attr.id, selector="head > title", validation={"maxLength": 60})
        roots = tree.children(s)
        assert [(n.kind, n.label, n.has_children) for n in roots] == [("campaign", "seo audit [paused]", True)]
        workflows = tree.children(s, "campaign", c.id)
        assert [n.label for n in workflows] == ["daily [schedule, active]", "on push [webhook, draft]"]
        assert [n.has_children for n in workflows] == [True, False]
        assert [n.label for n in tree.children(s, "datastream", ds.id)] == ["title: string", "h1_count: number"]
        assert tree.get_node(s, Attribute, attr.id).selector == "head > title"
        with pytest.raises(LightdomError, match="workflow.status"):
            tree.update_workflow(s, w.id, status="sleeping")


def test_cascading_delete_needs_confirmation(ws):
    with ws.session() as s:
        c, w, *_ = _branch(s)
        s.add(WorkflowRun(workflow_id=w.id, status="completed"))
    with pytest.raises(tree.ConfirmationRequired) as info:
        with ws.session() as s:
            tree.delete_node(s, "campaign", c.id)
    assert info.value.counts == {"workflows": 2, "services": 1, "runs": 1, "datastreams": 1, "attributes": 2}
    with ws.session() as s:
        assert s.exec(select(func.count()).select_from(Attribute)).one() == 2  # nothing went
        removed = tree.delete_node(s, "campaign", c.id, confirm=True)
    assert removed.removed["attributes"] == 2
    with ws.session() as s:
        for model in (Campaign, Workflow, Service, DataStream, Attribute, WorkflowRun):
            assert s.exec(select(func.count()).select_from(model)).one() == 0, model
    with ws.session() as s:  # a leaf goes without confirmation
        c, w, svc, ds = _branch(s)
        leaf = tree.list_attributes(s, ds.id)[0]
        assert tree.delete_node(s, "attribute", leaf.id).removed == {}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_export_import_round_trip_exact(ws, tmp_path, suffix):
    with ws.session() as s:
        c, w, *_ = _branch(s)
        doc = export_campaign(s, c.id)
        workflow_doc = export_workflow(s, w.id)
    assert "token_sha256" not in json.dumps(doc)  # no secrets in exports
    path = write_document(doc, tmp_path / f"campaign{suffix}")
    loaded = read_document(path)
    assert loaded == doc
    with ws.session() as s:
        copy = import_campaign(s, loaded, name="seo audit copy")
        again = export_campaign(s, copy.id)
    assert again["campaign"].pop("name") == "seo audit copy"
    assert again == {**doc, "campaign": {k: v for k, v in doc["campaign"].items() if k != "name"}}
    with ws.session() as s:  # a workflow document imports into another campaign, exactly
        other = tree.create_campaign(s, "other")
        imported = import_workflow(s, workflow_doc, other.id)
        assert export_workflow(s, imported.id) == workflow_doc


def test_import_errors_name_the_document_path(ws):
    with ws.session() as s:
        c, *_ = _branch(s)
        doc = export_campaign(s, c.id)
    doc["campaign"]["name"] = "broken"
    doc["campaign"]["workflows"][0]["services"][0]["datastreams"][0]["attributes"][1]["type"] = "blob"
    with pytest.raises(LightdomError, match=r"campaign\.workflows\[0\]\.services\[0\]\.datastreams\[0\]"
                                            r"\.attributes\[1\]\.type: 'blob'"):
        with ws.session() as s:
            import_campaign(s, doc)
    with ws.session() as s:  # the failed import left nothing
        assert s.exec(select(Campaign).where(Campaign.name == "broken")).first() is None


class _Answer:
    def __init__(self, attributes, model="smollm2-135m-instruct"):
        self.attributes, self.model, self.engine = attributes, model, "local"
        self.latency_ms, self.arm, self.ab_test_id, self.request_log_id = 1.0, None, None, None


def _counts(ws):
    with ws.session() as s:
        return [s.exec(select(func.count()).select_from(m)).one()
                for m in (Campaign, Workflow, Service, DataStream, Attribute)]


def test_bundle_keeps_the_good_items_reports_the_bad_and_creates_nothing_when_none_is_good(ws):
    calls = []

    def model_fails_on_second_topic(ws_, topic, **kwargs):  # failure injection: the model errors
        calls.append(topic)
        if len(calls) == 2:
            raise RuntimeError("llama.cpp: context overflow")
        return _Answer([{"name": "h1_text", "type": "string", "description": "main heading"}])

    result = create_bundle(ws, "seo-1", topics="h1,meta,title", category="seo", cron="0 6 * * *",
                           generator=model_fails_on_second_topic)
    assert calls == ["seo h1", "seo meta", "seo title"]
    assert [(a["topic"], a["name"]) for a in result.attributes] == [("h1", "h1_text"), ("title", "title_h1_text")]
    assert result.skipped == [{"topic": "meta", "item": "meta",
                               "reason": "generating attributes failed: RuntimeError: llama.cpp: context overflow"}]
    assert _counts(ws) == [1, 1, 1, 1, 2]

    def bad_answer_on_second_topic(ws_, topic, **kwargs):  # failure injection: a bad answer mid-write
        if topic == "seo meta":
            return _Answer([{"name": "meta_tags", "type": "blob", "description": ""}])
        return _Answer([{"name": topic.split()[1] + "_text", "type": "string", "description": "x"}])

    result = create_bundle(ws, "seo-2", topics=["h1", "meta", "title"], category="seo",
                           generator=bad_answer_on_second_topic)
    assert [a["name"] for a in result.attributes] == ["h1_text", "title_text"]
    assert [(s["topic"], s["item"]) for s in result.skipped] == [("meta", "meta_tags")]
    assert "attribute.type: 'blob'" in result.skipped[0]["reason"]

    def only_bad_answers(ws_, topic, **kwargs):
        return _Answer([{"name": "x", "type": "blob", "description": ""}])

    with pytest.raises(LightdomError, match="no usable attribute"):
        create_bundle(ws, "seo-3", topics="h1,meta", category="seo", generator=only_bad_answers)
    assert _counts(ws) == [2, 2, 2, 2, 4]  # campaign, workflow, … of seo-3 were inserted, then rolled back
