"""Workflow runs against a real HTTP server: extraction, per-page errors, limits, retries, stop."""

from __future__ import annotations

import threading
import time

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import WorkflowRun
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.destinations import read_rows
from lightdom_tui.orchestration.executor import request_stop, run_logs, run_workflow, workflow_metrics

HTML_ATTRS = [
    ("title", "string", "title", {"required": True, "minLength": 3}),
    ("description", "string", "meta[name=description]@content", {}),
    ("heading", "string", "h1", {"pattern": "^Widget \\d+$"}),
    ("subheadings", "array", "h2", {"maxLength": 5}),
    ("price", "number", "span.price", {"min": 0, "max": 500}),
    ("next_link", "string", "a.next@href", {}),
]


def _html_workflow(ws, urls, *, transformations=None, concurrency=4, config=None, destination=""):
    with ws.session() as s:
        campaign = tree.create_campaign(s, "shop", status="active")
        workflow = tree.create_workflow(s, campaign.id, "crawl", concurrency=concurrency)
        service = tree.create_service(s, workflow.id, "pages", type="html", config={"urls": urls, **(config or {})})
        stream = tree.create_datastream(
            s, service.id, "products", destination=destination,
            transformations=transformations if transformations is not None else [
                {"op": "trim"}, {"op": "cast", "to": "number", "attribute": "price"}],
        )
        for name, kind, selector, rules in HTML_ATTRS:
            tree.create_attribute(s, stream.id, name, type=kind, selector=selector, validation=rules)
        return workflow.id, stream.id


def test_html_extraction_and_per_page_errors(ws, http_server):
    urls = [http_server.url(p) for p in
            ("/page/1", "/page/2", "/page/60", "/error500", "/notfound", "/huge", "/huge-undeclared",
             "/malformed.html")]
    workflow_id, stream_id = _html_workflow(ws, urls, config={"max_bytes": 100_000, "retries": 1,
                                                              "backoff_s": 0.01, "timeout_s": 3})
    result = run_workflow(ws, workflow_id)
    assert result is not None and result.status == "completed"
    m = result.metrics
    assert (m["pages"], m["pages_ok"], m["pages_failed"]) == (8, 4, 4)
    assert m["success_rate"] == 0.5
    assert http_server.count("/error500") == 2  # one retry of a 5xx
    assert http_server.count("/notfound") >= 1

    rows = {r["_source"].rsplit("/", 1)[1]: r for r in read_rows(ws.root, "", stream_id, "products")}
    assert set(rows) == {"1", "2", "60", "malformed.html"}
    one = rows["1"]
    assert one["title"] == "Product 1"  # trimmed
    assert one["description"] == "Description of product 1"
    assert one["heading"] == "Widget 1"
    assert loads(one["subheadings"]) == ["Specs", "Reviews"]
    assert one["price"] == 10.5 and one["next_link"] == "/page/2"
    assert one["_errors"] is None
    # page 60 costs 600.5 > max 500: the value is invalid, nulled and reported
    assert rows["60"]["price"] is None and "price: 600.5 > max 500" in rows["60"]["_errors"]
    # malformed HTML still extracts what is there
    assert rows["malformed.html"]["price"] == 7.5
    assert rows["malformed.html"]["heading"] == "Widget 5" and rows["malformed.html"]["title"] == "Broken"
    assert m["invalid_values"] == 1

    with ws.session() as s:
        errors = {log.message.split(": ", 1)[0].rsplit("/", 1)[1]: log.message
                  for log in run_logs(s, workflow_id=workflow_id, level="error")}
        metrics = workflow_metrics(s, workflow_id)
    assert set(errors) == {"error500", "notfound", "huge", "huge-undeclared"}
    assert "HTTP 500" in errors["error500"] and "HTTP 404" in errors["notfound"]
    assert "too large" in errors["huge"] and "too large" in errors["huge-undeclared"]
    assert metrics.totals["runs"] == 1 and metrics.totals["rows"] == 4


def test_retry_recovers_transient_errors(ws, http_server):
    workflow_id, stream_id = _html_workflow(ws, [http_server.url("/flaky")],
                                            config={"retries": 3, "backoff_s": 0.01})
    result = run_workflow(ws, workflow_id)
    assert result.metrics["pages_ok"] == 1 and result.metrics["retries"] == 2
    assert read_rows(ws.root, "", stream_id, "products")[0]["heading"] == "Widget 99"


def test_run_never_hangs_on_a_stalled_server(ws, http_server):
    workflow_id, _ = _html_workflow(ws, [http_server.url("/hang"), http_server.url("/page/3")],
                                    config={"timeout_s": 0.5, "retries": 0})
    started = time.monotonic()
    result = run_workflow(ws, workflow_id)
    assert time.monotonic() - started < 4
    assert result.metrics["pages_failed"] == 1 and result.metrics["pages_ok"] == 1
    with ws.session() as s:
        assert any("timeout" in log.message for log in run_logs(s, workflow_id=workflow_id, level="error"))


def test_stop_mid_run(ws, http_server):
    urls = [http_server.url(f"/slow/0.25?{i}") for i in range(40)]
    workflow_id, stream_id = _html_workflow(ws, urls, concurrency=2)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("r", run_workflow(ws, workflow_id)))
    runner.start()
    deadline = time.monotonic() + 5
    stopped = []
    while time.monotonic() < deadline and not stopped:
        time.sleep(0.1)
        with ws.session() as s:
            run = s.get(WorkflowRun, 1)
            if run is not None and loads(run.metrics_json, {}).get("pages", 0) >= 2:
                stopped = request_stop(s, workflow_id=workflow_id)
    assert stopped == [1]
    runner.join(timeout=10)
    assert not runner.is_alive()
    result = outcome["r"]
    assert result.status == "stopped"
    assert 2 <= result.metrics["pages"] < 40
    rows = read_rows(ws.root, "", stream_id, "products", limit=100)
    assert len(rows) == result.metrics["rows"] == result.metrics["pages_ok"]
    with ws.session() as s:
        assert s.get(WorkflowRun, 1).status == "stopped"


def test_json_service_and_jsonl_destination(ws, http_server):
    urls = [http_server.url(f"/api/item/{n}") for n in (1, 2)] + [http_server.url("/api/malformed")]
    with ws.session() as s:
        c = tree.create_campaign(s, "api")
        w = tree.create_workflow(s, c.id, "items")
        svc = tree.create_service(s, w.id, "api", type="http", config={"urls": urls})
        ds = tree.create_datastream(s, svc.id, "items", destination="jsonl:out/items.jsonl",
                                    transformations=[{"op": "uppercase", "attribute": "currency"},
                                                     {"op": "count", "attribute": "tag_count"}])
        tree.create_attribute(s, ds.id, "item_id", type="number", selector="$.item.id")
        tree.create_attribute(s, ds.id, "name", selector="item.name", validation={"required": True})
        tree.create_attribute(s, ds.id, "tags", type="array", selector="$.item.tags[*]")
        tree.create_attribute(s, ds.id, "tag_count", type="number", selector="$.item.tags[*]")
        tree.create_attribute(s, ds.id, "currency", selector="$.item.price.currency",
                              validation={"enum": ["EUR", "USD"]})
        tree.create_attribute(s, ds.id, "amount", type="number", selector="$['item']['price'].amount")
        workflow_id, stream_id = w.id, ds.id
    result = run_workflow(ws, workflow_id)
    assert (result.metrics["pages_ok"], result.metrics["pages_failed"]) == (2, 1)
    rows = read_rows(ws.root, "jsonl:out/items.jsonl", stream_id, "items")
    assert (ws.root / "out" / "items.jsonl").exists()
    rows = {r["_source"].rsplit("/", 1)[1]: r for r in rows}  # fetched concurrently: any order
    assert rows["2"] == {**rows["2"], "item_id": 2, "name": "Item 2", "tags": ["a", "b", "t2"], "tag_count": 3,
                       "currency": "EUR", "amount": 3.0, "_errors": None}
    with ws.session() as s:
        errors = [log.message for log in run_logs(s, workflow_id=workflow_id, level="error")]
    assert len(errors) == 1 and "malformed JSON" in errors[0]


def test_new_attribute_adds_a_column(ws, tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<title>T</title><h1>H</h1>")
    with ws.session() as s:
        c = tree.create_campaign(s, "cols")
        w = tree.create_workflow(s, c.id, "w")
        svc = tree.create_service(s, w.id, "f", type="file", config={"paths": [str(page)]})
        ds = tree.create_datastream(s, svc.id, "pages", destination="sqlite:pages")
        tree.create_attribute(s, ds.id, "title", selector="title")
    run_workflow(ws, w.id)
    with ws.session() as s:
        tree.create_attribute(s, ds.id, "heading", selector="h1")
    run_workflow(ws, w.id)
    rows = read_rows(ws.root, "sqlite:pages", ds.id, "pages")
    assert [(r["title"], r["heading"]) for r in rows] == [("T", None), ("T", "H")]


def test_batches_of_local_pages_are_validated_column_by_column(ws, tmp_path):
    """More pages than one row batch: every page's problems land on its own row, counts add up."""
    from lightdom_tui.orchestration.executor import ROW_BATCH

    pages = tmp_path / "pages"
    pages.mkdir()
    total = ROW_BATCH + 37
    for n in range(total):
        price = "abc" if n % 50 == 7 else f"{n}.5"  # every 50th page: a price that cannot be cast
        title = "" if n % 100 == 3 else f"Item {n}"  # every 100th page: a required title missing
        note = f"<p class=note>{'x' * (30 if n % 10 == 5 else 3)}</p>" if n % 2 else ""  # odd pages have a note
        (pages / f"p{n:04d}.html").write_text(f"<title>{title}</title><span class=price>{price}</span>{note}")
    with ws.session() as s:
        c = tree.create_campaign(s, "batch")
        w = tree.create_workflow(s, c.id, "w")
        svc = tree.create_service(s, w.id, "files", type="file", config={"paths": [str(pages / "*.html")]})
        ds = tree.create_datastream(s, svc.id, "items", destination="sqlite:items",
                                    transformations=[{"op": "cast", "to": "number", "attribute": "price"}])
        tree.create_attribute(s, ds.id, "title", selector="title", validation={"required": True})
        tree.create_attribute(s, ds.id, "price", type="number", selector="span.price", validation={"min": 0})
        tree.create_attribute(s, ds.id, "note", selector="p.note", validation={"maxLength": 10})
    result = run_workflow(ws, w.id)
    assert result is not None and result.status == "completed"

    bad_price = [n for n in range(total) if n % 50 == 7]
    no_title = [n for n in range(total) if n % 100 == 3]
    long_note = [n for n in range(total) if n % 10 == 5]
    no_note = [n for n in range(total) if n % 2 == 0]
    counts = result.metrics["attributes"][str(ds.id)]
    assert counts["price"] == {"valid": total - len(bad_price), "invalid": len(bad_price), "missing": 0}
    assert counts["title"] == {"valid": total - len(no_title), "invalid": len(no_title), "missing": 0}
    assert counts["note"] == {"valid": total - len(no_note) - len(long_note), "invalid": len(long_note),
                              "missing": len(no_note)}
    assert result.metrics["invalid_values"] == len(bad_price) + len(no_title) + len(long_note)
    assert result.metrics["rows"] == total

    rows = {int(r["_source"].rsplit("p", 1)[1][:4]): r for r in read_rows(ws.root, "sqlite:items", ds.id, "items",
                                                                          limit=total)}
    assert len(rows) == total
    assert rows[7]["price"] is None and loads(rows[7]["_errors"]) == ["price: cannot cast 'abc' to number"]
    assert rows[3]["title"] is None and loads(rows[3]["_errors"]) == ["title: required value missing"]
    assert rows[15]["note"] is None and "note: length 30 > maxLength 10" in loads(rows[15]["_errors"])
    assert rows[ROW_BATCH + 1]["price"] == ROW_BATCH + 1.5 and rows[ROW_BATCH + 1]["_errors"] is None
    with ws.session() as s:
        warnings = [log.message for log in run_logs(s, workflow_id=w.id, level="warning", limit=1000)]
    assert len(warnings) == len(set(bad_price) | set(no_title) | set(long_note))
    assert any("p0007.html: stream items: price: cannot cast 'abc' to number" in m for m in warnings)



def test_read_file_limits_and_files_without_a_size(tmp_path):
    from lightdom_tui.orchestration.fetch import read_file

    page = tmp_path / "page.html"
    page.write_bytes(b"<h1>x</h1>" * 100)
    assert read_file(str(page), 10_000).body == b"<h1>x</h1>" * 100
    assert read_file(f"file://{page}", 10_000).content_type == "text/html"
    assert "too large: 1000 bytes > max_bytes 999" in read_file(str(page), 999).error
    assert "cannot read file" in read_file(str(tmp_path / "missing.html"), 999).error
    status = read_file("/proc/self/status", 1_000_000)  # st_size 0, content not empty
    assert status.ok and b"Name:" in status.body
    assert "too large: more than max_bytes 10" in read_file("/proc/self/status", 10).error


def test_validator_scan_agrees_with_errors_value_by_value():
    """The column scan's quick tests must never pass a value that ``errors`` would reject (or the reverse)."""
    from lightdom_tui.orchestration.validate import Validator

    cases = [
        ("string", {"minLength": 2, "maxLength": 5}), ("string", {"pattern": "^SKU-\\d+$"}),
        ("string", {"enum": ["a", "bb"], "maxLength": 1}), ("string", {"required": True}),
        ("array", {"minLength": 1, "maxLength": 2}), ("number", {"min": 0, "max": 10}),
        ("number", {"min": 5}), ("number", {"enum": [1, 2.5]}), ("boolean", {"enum": [True]}),
        ("date", {"minLength": 10}), ("object", {}),
    ]
    values = [None, "", [], "a", "bb", "abcdef", "SKU-12", "SKU-x", ["x"], ["x", "y", "z"], 0, -1, 5, 10.5,
              2.5, 1, True, False, "2026-11-30", "not a date", {"k": 1}, {}, 3.0]
    for kind, rules in cases:
        validator = Validator("f", kind, rules)
        missing, problems = validator.scan(values)
        flagged = dict(problems)
        for index, value in enumerate(values):
            expected = list(validator.errors(value))
            assert list(flagged.get(index, [])) == expected, (kind, rules, value)
        empties = sum(1 for v in values if v is None or v == "" or v == [])
        assert missing == (0 if rules.get("required") else empties)
        skip = set(range(0, len(values), 2))  # values that failed a transformation are left out entirely
        missing, problems = validator.scan(values, skip)
        assert [index for index, _ in problems] == [i for i in flagged if i not in skip]
        assert missing == (0 if rules.get("required") else sum(
            1 for i, v in enumerate(values) if i not in skip and (v is None or v == "" or v == [])))


def test_transformations_cast_trim_default_and_report_failures_by_index():
    from lightdom_tui.orchestration.transform import Pipeline

    pipeline = Pipeline([
        {"op": "trim"}, {"op": "cast", "to": "number", "attribute": "price"},
        {"op": "cast", "to": "boolean", "attribute": "stock"}, {"op": "cast", "to": "integer", "attribute": "qty"},
        {"op": "cast", "to": "date", "attribute": "day"}, {"op": "default", "value": "n/a", "attribute": "note"},
    ], ["price", "stock", "qty", "day", "note"])
    prices, failed = pipeline.apply_column("price", [" 1,299.00 ", "12", "1e3", "abc", "", None, ["2", "3.5"]])
    assert prices == [1299.0, 12, 1000, None, None, None, [2, 3.5]]
    assert failed == {3: "cannot cast 'abc' to number"}
    assert pipeline.apply_column("stock", ["Yes", " off ", True, "maybe"]) == (
        [True, False, True, None], {3: "cannot cast 'maybe' to boolean"})
    assert pipeline.apply_column("qty", ["7.9", 3.2]) == ([7, 3], {})
    assert pipeline.apply_column("day", ["2026-11-30T10:00:00 "])[0] == ["2026-11-30T10:00:00"]
    assert pipeline.apply_column("note", ["  a  b ", "", None, []]) == (["a b", "n/a", "n/a", "n/a"], {})


def test_sqlite_destination_undoes_only_a_failed_batch(tmp_path):
    import sqlite3

    from lightdom_tui.orchestration.destinations import SqliteDestination

    db = tmp_path / "streams.db"
    dest = SqliteDestination(db, "t", {"title": "string"})
    dest.write([[1, "a", "now", None, "first"]])
    try:
        dest.write([[1, "b", "now", None, "second"], [1, "c", "now", None]])  # the 2nd row lacks a column
    except sqlite3.ProgrammingError:
        pass
    else:
        raise AssertionError("a short row was accepted")
    dest.write([[1, "d", "now", None, "third"]])
    dest.close()
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT title FROM t ORDER BY _id")] == ["first", "third"]
