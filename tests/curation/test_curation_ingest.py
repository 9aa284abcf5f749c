"""Ingest: formats, specific reasons, accounting, re-ingest, gz/arrays, dedup, quality, logging, watch."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

from sqlmodel import select

from conftest import chat, write_jsonl  # type: ignore[import-not-found]
from lightdom_tui.curation.examples import add_example, example_messages
from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.curation.quality import quality_score, score_parts
from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Example, IngestFile, Quarantine


def _all(ws) -> list[Example]:  # noqa: ANN001
    with ws.session() as session:
        return list(session.exec(select(Example).order_by(Example.id)))


def test_every_format_normalises_to_canonical_chat(ws, tmp_path: Path) -> None:
    tool_chat = {"messages": [
        {"role": "user", "content": "price of sku 1?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": {"sku": 1}}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "lookup", "content": {"price": 3}},
        {"role": "assistant", "content": "3 EUR"}]}
    records = [
        chat("hi", "hello", metadata={"domain": "greeting", "tags": ["t"]}),
        {"instruction": "Summarise", "input": "long text", "output": "short"},
        {"prompt": "2+2=", "completion": "4"},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"task_type": "curation", "prompt": "keep?", "output": {"decision": "reject"}, "model": "m",
         "latency_ms": 12, "cost": 0.001, "confidence": 0.4, "decision": "reject"},
        tool_chat,
    ]
    report = ingest_paths(ws, [write_jsonl(tmp_path / "all.jsonl", records)])
    assert (report.read, report.imported, report.quarantined) == (6, 6, 0)
    rows = _all(ws)
    formats = [loads(r.metadata_json)["format"] for r in rows]
    assert formats == ["chat", "instruction", "completion", "sharegpt", "call_log", "chat"]
    assert loads(rows[0].metadata_json)["domain"] == "greeting"
    assert example_messages(rows[1])[0] == {"role": "user", "content": "Summarise\n\nlong text"}
    assert rows[4].task_type == "curation" and rows[4].confidence == 0.4
    assert loads(rows[4].metadata_json)["latency_ms"] == 12
    assert example_messages(rows[4])[-1]["content"] == '{"decision":"reject"}'
    tool = example_messages(rows[5])
    assert tool[1]["tool_calls"][0]["function"]["arguments"] == '{"sku":1}'
    assert tool[2] == {"role": "tool", "tool_call_id": "c1", "name": "lookup", "content": '{"price":3}'}
    assert rows[5].task_type == "tool_use"  # inferred from the tool calls
    assert all(r.source == "all.jsonl" and r.status == "pending" for r in rows)


def test_reasons_name_line_and_field(ws, tmp_path: Path) -> None:
    lines = [
        chat("a", "b"),
        '{"messages": [1, 2',
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"},
                      {"role": "tool", "content": "z"}]},
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
        b"\xff\xfe not utf8",
        "",
        {"foo": "bar"},
        "[1, 2]",
        {"messages": [{"role": "user", "content": "nul \u0000 here"}, {"role": "assistant", "content": "y"}]},
    ]
    report = ingest_paths(ws, [write_jsonl(tmp_path / "bad.jsonl", lines)])
    reasons = {e.line: e.reason for e in report.errors}
    assert report.read == 9 and report.imported == 1 and report.quarantined == 8  # the blank line is not a record
    assert reasons[2].startswith("line 2: not JSON: ")
    assert reasons[3] == "line 3: messages[2]: tool message without tool_call_id"
    assert reasons[4] == "line 4: messages[0].content: expected a string, got int"
    assert "no assistant message" in reasons[5]
    assert reasons[6].startswith("line 6: not UTF-8: byte 0xff")
    assert "unknown format" in reasons[8] and "keys: foo" in reasons[8]
    assert "expected a JSON object, got list" in reasons[9]
    assert "NUL" in reasons[10]
    with ws.session() as session:
        quarantined = session.exec(select(Quarantine).order_by(Quarantine.line)).all()
    assert [q.line for q in quarantined] == [2, 3, 4, 5, 6, 8, 9, 10]
    assert quarantined[0].raw == '{"messages": [1, 2'


def test_reingest_imports_nothing_and_duplicates_are_counted(ws, corpus: Path, tmp_path: Path) -> None:
    first = ingest_paths(ws, [corpus])
    assert first.imported == 200
    again = ingest_paths(ws, [corpus])
    assert again.read == 0 and again.imported == 0 and again.skipped_files == [str(corpus)]
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(corpus.read_bytes() + json.dumps(chat("new", "one")).encode() + b"\n")
    third = ingest_paths(ws, [copy])
    assert (third.read, third.imported, third.duplicates) == (201, 1, 200)
    assert len(_all(ws)) == 201


def test_gzip_json_array_and_folder(ws, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with gzip.open(folder / "a.jsonl.gz", "wt", encoding="utf-8") as handle:
        for i in range(5):
            handle.write(json.dumps(chat(f"gz {i}", "ok")) + "\n")
    array = [chat(f"arr {i}", "ok") for i in range(4)]
    (folder / "b.json").write_text(json.dumps(array, indent=2)[:-1] + ', {"messages": oops}]', encoding="utf-8")
    (folder / "notes.txt").write_text("ignored")
    report = ingest_paths(ws, [folder])
    assert report.files == 2
    assert (report.read, report.imported, report.quarantined) == (10, 9, 1)
    assert report.errors[0].reason.startswith(f"line {report.errors[0].line}: not JSON")
    assert report.errors[0].line > 10  # a physical line of the array file, not the item index


def test_near_duplicates_are_flagged_not_dropped(ws, tmp_path: Path) -> None:
    base = "The product page shows a price of 19.99 EUR and free shipping for orders over fifty euros today"
    records = [
        chat("What does the page say about price and shipping?", base),
        chat("What does the page say about price and shipping?", "  " + base.upper() + "  "),  # case/space variant
        chat("What does the page say about price and shipping?", base.replace("today", "this week")),  # paraphrase
        chat("Unrelated question about recipes", "Bake for twenty minutes at 180 degrees."),
    ]
    report = ingest_paths(ws, [write_jsonl(tmp_path / "near.jsonl", records)])
    assert report.imported == 4 and report.near_duplicates == 1 and report.paraphrases == 1
    rows = _all(ws)
    assert [r.near_duplicate_of for r in rows] == [None, rows[0].id, rows[0].id, None]


def test_quality_rubric() -> None:
    good = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "an answer"}]
    assert quality_score(good, 10) == 1.0
    no_system = good[1:]
    assert quality_score(no_system, 10) == 0.9
    dangling = [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]
    parts = score_parts(dangling, 10, 2048)
    assert parts["tool_pairing"] == 0.0 and parts["tool_arguments"] == 0.0 and parts["completeness"] == 0.5
    assert quality_score(good, 5000, 2048) == 0.85  # over the context budget


def test_add_example_is_dedup_aware(ws) -> None:
    messages = chat("q", "a")["messages"]
    with ws.session() as session:
        first = add_example(session, messages, task_type="general", source="test")
        again = add_example(session, messages, task_type="other", source="elsewhere")
        assert again.id == first.id and again.task_type == "general"


def test_log_call_api(ws) -> None:
    import lightdom_tui

    first = lightdom_tui.log_call(workspace=ws, task_type="attribute_generation", prompt="Topic: blog post",
                                  output={"attributes": [{"name": "author", "type": "string", "description": "x"}]},
                                  model="smollm2", latency_ms=120.0, confidence=0.8)
    again = lightdom_tui.log_call(home=ws.root, task_type="attribute_generation", prompt="Topic: blog post",
                                  output={"attributes": [{"name": "author", "type": "string", "description": "x"}]})
    assert first == again
    with ws.session() as session:
        example = session.get(Example, first)
    assert example.status == "pending" and example.confidence == 0.8 and example.source == "log"
    assert loads(example.metadata_json)["model"] == "smollm2"


def test_watch_moves_files_only_after_commit(ws, tmp_path: Path) -> None:
    from lightdom_tui.curation.watch import process_inbox, watch_inbox

    write_jsonl(ws.inbox_dir / "drop1.jsonl", [chat("w1", "a"), "broken"])
    (ws.inbox_dir / "partial.jsonl.part").write_text("{}")
    summary = process_inbox(ws)
    assert (summary.files, summary.imported, summary.quarantined) == (1, 1, 1)
    assert (ws.processed_dir / "drop1.jsonl").exists() and not (ws.inbox_dir / "drop1.jsonl").exists()
    assert (ws.inbox_dir / "partial.jsonl.part").exists()
    with ws.session() as session:
        assert session.exec(select(IngestFile)).one().status == "done"

    stop = threading.Event()
    events = []
    thread = threading.Thread(target=watch_inbox, args=(ws,), kwargs={"stop_event": stop, "on_event": events.append})
    thread.start()
    try:
        time.sleep(0.5)
        tmp = ws.inbox_dir / "drop2.jsonl.tmp"
        write_jsonl(tmp, [chat("w2", "a"), chat("w3", "b")])
        tmp.rename(ws.inbox_dir / "drop2.jsonl")
        deadline = time.time() + 20
        while not events and time.time() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert events and events[0].report.imported == 2
    assert (ws.processed_dir / "drop2.jsonl").exists()


def test_cleanup_removes_old_quarantine_never_examples(ws, tmp_path: Path) -> None:
    import os

    from lightdom_tui.curation.actions import approve
    from lightdom_tui.curation.retention import cleanup

    ingest_paths(ws, [write_jsonl(tmp_path / "c.jsonl", [chat("a", "b"), "bad line"])])
    approve(ws, [1])
    old = ws.processed_dir / "old.jsonl"
    old.write_text("{}\n")
    os.utime(old, (time.time() - 90 * 86400,) * 2)
    first = cleanup(ws, days=30)
    assert (first.quarantine_rows, first.processed_files) == (0, 1) and not old.exists()  # quarantine still fresh
    assert cleanup(ws, days=0).quarantine_rows == 1
    assert len(_all(ws)) == 1


def test_cleanup_drops_old_gateway_conversations_and_keeps_the_call_facts(ws) -> None:
    from datetime import datetime, timedelta, timezone

    from sqlmodel import func, select

    from lightdom_tui.curation.retention import cleanup
    from lightdom_tui.db.models import GatewayCall, RequestLog

    now = datetime.now(timezone.utc)
    with ws.session() as session:
        for call_id, age_days in (("chatcmpl-old", 45), ("chatcmpl-new", 2)):
            row = RequestLog(engine="local", created_at=now - timedelta(days=age_days))
            session.add(row)
            session.flush()
            session.add(GatewayCall(call_id=call_id, request_log_id=row.id, model="m", messages_json="[]",
                                    created_at=now - timedelta(days=age_days)))
        session.commit()
    counted = cleanup(ws, days=30, dry_run=True)
    assert counted.gateway_calls == 1 and counted.summary().startswith("would remove 0 quarantine rows")
    assert cleanup(ws, days=30).summary() == "removed 0 quarantine rows, 0 processed files, 1 gateway conversations"
    with ws.session() as session:
        assert [c.call_id for c in session.exec(select(GatewayCall))] == ["chatcmpl-new"]
        assert session.exec(select(func.count()).select_from(RequestLog)).one() == 2  # the facts stay


def test_full_paraphrase_scan_after_a_deferred_import(ws, tmp_path: Path) -> None:
    from lightdom_tui.curation.dedup import scan_paraphrases

    text = "Shipping to Berlin takes three working days and costs four euros for parcels under two kilos"
    records = [chat(f"Delivery question {i}", text + (" exactly" if i else "")) for i in range(2)]
    records += [chat(f"Other {i}", f"Completely unrelated answer number {i} about cooking pasta al dente") for i in range(3)]
    report = ingest_paths(ws, [write_jsonl(tmp_path / "p.jsonl", records)], paraphrases=False)
    assert report.paraphrase_check == "none" and report.paraphrases == 0
    assert scan_paraphrases(ws) == 1
    rows = _all(ws)
    assert rows[1].near_duplicate_of == rows[0].id
    assert scan_paraphrases(ws) == 0  # already flagged
