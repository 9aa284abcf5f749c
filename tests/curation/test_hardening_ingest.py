"""Issue 18, lines lost: every input line is imported, a duplicate or quarantined — under hostile files and races.

Each test names the item of the issue it covers. Real files, real SQLite, real threads.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from lightdom_tui.curation.examples import add_example
from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.curation.reader import MAX_LINE_BYTES, iter_items
from lightdom_tui.db.models import Example, IngestFile, Quarantine
from lightdom_tui.errors import LightdomError

from conftest import chat, write_jsonl  # type: ignore[import-not-found]


def _count(ws, model) -> int:  # noqa: ANN001
    with ws.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _file_rows(ws) -> list[IngestFile]:  # noqa: ANN001
    with ws.session() as session:
        return list(session.exec(select(IngestFile)).all())


def _records(n: int, tag: str = "r", pad: int = 0) -> list[dict]:
    return [chat(f"{tag} question {i}?" + " pad" * pad, f"answer {i}") for i in range(n)]


def _assert_accounted(report) -> None:  # noqa: ANN001
    assert report.read == report.imported + report.duplicates + report.quarantined


# --- a 4,301-digit integer anywhere ---------------------------------------------------------

@pytest.mark.parametrize("where", ["metadata", "tool_arguments", "array"])
def test_huge_integer_is_one_quarantined_line_and_the_file_finishes(ws, tmp_path: Path, where: str) -> None:
    huge = "9" * 4301
    if where == "metadata":
        bad = '{"prompt": "p", "completion": "c", "metadata": {"n": ' + huge + "}}"
    else:
        bad = ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null, '
               '"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"n": '
               + huge + "}}}]}]}")
    good = [json.dumps(r) for r in _records(20, where)]
    if where == "array":
        path = tmp_path / "huge.json"
        path.write_text("[\n" + ",\n".join([*good[:10], bad, *good[10:]]) + "\n]\n")
    else:
        path = write_jsonl(tmp_path / "huge.jsonl", [*good[:10], bad, *good[10:]])
    report = ingest_paths(ws, [path])
    _assert_accounted(report)
    assert (report.read, report.imported, report.quarantined) == (21, 20, 1)
    assert "number too large: an integer with more than 4300 digits" in report.errors[0].reason
    assert report.errors[0].line == 11 + (where == "array")  # the array's first element is on line 2
    assert [f.status for f in _file_rows(ws)] == ["done"]
    assert ingest_paths(ws, [path]).skipped_files == [str(path)]  # a rerun does not fail the same way


# --- truncated and fake gzip ----------------------------------------------------------------

def test_truncated_jsonl_gz_imports_its_readable_records(ws, tmp_path: Path) -> None:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in _records(1000, "gz"))
    packed = gzip.compress(data)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) * 99 // 100])
    readable = zlib.decompressobj(31).decompress(path.read_bytes())  # what any reader can get back
    complete = readable.count(b"\n")
    assert 900 < complete < 1000
    report = ingest_paths(ws, [path])
    _assert_accounted(report)
    assert report.imported == complete and report.quarantined == 1
    assert report.errors[0].line == complete + 1
    assert "gzip data truncated" in report.errors[0].reason and "cut off inside this record" in report.errors[0].reason
    assert [f.status for f in _file_rows(ws)] == ["done"]


@pytest.mark.parametrize("name", ["fake.jsonl.gz", "fake.json.gz"])
def test_gz_that_is_not_gzip_is_one_clear_quarantined_line(ws, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(chat("plain", "text")) + "\n")
    report = ingest_paths(ws, [path])
    assert (report.read, report.quarantined) == (1, 1)
    reason = report.errors[0].reason
    assert reason.startswith("line 1: not gzip: the name ends in .gz") and "1f 8b" in reason
    with ws.session() as session:
        row = session.exec(select(Quarantine)).one()
    assert row.raw.startswith('{"messages"')  # the first bytes are kept to look at


# --- a .json array with one broken element --------------------------------------------------

BREAKS = {
    "unterminated_string": lambda text: text.replace('"answer 1"', '"answer 1', 1),
    "missing_closer": lambda text: text[: text.rindex("}")],
    "mismatched_bracket": lambda text: text.replace("]", "}", 1),
    "bad_token": lambda text: text.replace('"answer 1"', "answer 1", 1),
}


@pytest.mark.parametrize("layout", ["one_per_line", "indented", "compact"])
@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_broken_array_element_costs_one_item(tmp_path: Path, layout: str, kind: str) -> None:
    records = _records(300, f"{layout}-{kind}")
    if layout == "indented":
        texts = [json.dumps(r, indent=2).replace("\n", "\n  ") for r in records]
        separator, start, end = ",\n  ", "[\n  ", "\n]\n"
    else:
        texts = [json.dumps(r) for r in records]
        separator, start, end = (",\n", "[\n", "\n]\n") if layout == "one_per_line" else (", ", "[", "]")
    texts[1] = BREAKS[kind](texts[1])
    path = tmp_path / "broken.json"
    path.write_text(start + separator.join(texts) + end)
    items = list(iter_items(path))
    bad = [i for i in items if i.error]
    assert len(items) == 300 and len(bad) == 1 and bad[0].position == 2, [(i.position, i.error) for i in bad]
    assert [i.value for i in items if not i.error] == records[:1] + records[2:]


def test_json_array_of_2000_with_one_broken_element_imports_1999(ws, tmp_path: Path) -> None:
    texts = [json.dumps(r) for r in _records(2000, "arr")]
    texts[1] = texts[1][:-1]  # element 2 never closes
    path = tmp_path / "big.json"
    path.write_text("[\n" + ",\n".join(texts) + "\n]\n")
    report = ingest_paths(ws, [path], paraphrases=False)
    _assert_accounted(report)
    assert (report.read, report.imported, report.quarantined) == (2000, 1999, 1)
    assert report.errors[0].line == 3 and "not closed before the next value starts" in report.errors[0].reason


# --- a 400 MB line is never read whole ----------------------------------------------------------

def test_overlong_line_is_skipped_in_bounded_memory(ws, tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    size = 3 * MAX_LINE_BYTES
    long_line = b'{"prompt": "' + b"x" * size + b'", "completion": "y"}'
    with open(path, "wb") as handle:
        handle.write(json.dumps(chat("before", "x")).encode() + b"\n")
        handle.write(long_line + b"\n")
        handle.write(json.dumps(chat("after", "y")).encode() + b"\n")
    tracemalloc.start()
    try:
        items = list(iter_items(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size * 0.5, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB line"
    assert [(i.line, bool(i.error)) for i in items] == [(1, False), (2, True), (3, False)]
    report = ingest_paths(ws, [path])
    assert (report.imported, report.quarantined) == (2, 1)
    assert report.errors[0].reason.startswith(f"line 2: line too long: {len(long_line)} bytes")


# --- a file truncated and restored while being ingested -------------------------------------

def _big_file(path: Path, n: int = 3000) -> bytes:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in _records(n, path.stem, pad=150))
    assert len(data) > 2 * 1024 * 1024  # several read blocks
    path.write_bytes(data)
    return data


def test_file_truncated_while_ingested_is_not_marked_done_and_resumes(ws, tmp_path: Path) -> None:
    ws.settings.curation.batch_size = 200
    path = tmp_path / "moving.jsonl"
    original = _big_file(path)
    calls = []

    def truncate_once(progress) -> None:  # noqa: ANN001
        calls.append(progress.position)
        if len(calls) == 1:
            with open(path, "r+b") as handle:
                handle.truncate(len(original) // 2 + 17)  # mid-line

    report = ingest_paths(ws, [path], progress=truncate_once, paraphrases=False)
    _assert_accounted(report)
    assert report.incomplete and "changed while being read" in report.incomplete[0]
    assert [f.status for f in _file_rows(ws)] == ["running"]
    path.write_bytes(original)  # restored: same bytes, same sha256
    again = ingest_paths(ws, [path], paraphrases=False)
    assert not again.incomplete and again.skipped_files == []
    assert report.imported + again.imported == 3000 and report.quarantined + again.quarantined == 0
    assert [f.status for f in _file_rows(ws)] == ["done"]


def test_same_size_rewrite_with_forged_mtime_is_caught_by_the_hash(ws, tmp_path: Path) -> None:
    ws.settings.curation.batch_size = 200
    path = tmp_path / "forged.jsonl"
    original = _big_file(path)
    stat = os.stat(path)
    offset = len(original) - 200_000  # in the last read block
    calls = []

    def rewrite_once(progress) -> None:  # noqa: ANN001
        calls.append(progress.position)
        if len(calls) == 1:
            with open(path, "r+b") as handle:
                handle.seek(offset)
                handle.write(b"Z" * 64)  # same size
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    report = ingest_paths(ws, [path], progress=rewrite_once, paraphrases=False)
    _assert_accounted(report)
    assert report.incomplete and "content changed while being read" in report.incomplete[0]
    assert [(f.status, f.lines_done) for f in _file_rows(ws)] == [("running", 0)]
    path.write_bytes(original)
    again = ingest_paths(ws, [path], paraphrases=False)
    assert not again.incomplete
    assert _count(ws, Example) >= 3000 and [f.status for f in _file_rows(ws)] == ["done"]
    with ws.session() as session:
        texts = {e.messages_json for e in session.exec(select(Example)).all()}
    assert all(any(f"forged question {i}?" in t for t in texts) for i in (0, 1500, 2999))


# --- two ingests of one file at once --------------------------------------------------------

def test_two_ingests_of_one_file_at_once(ws, tmp_path: Path) -> None:
    ws.settings.curation.batch_size = 100
    lines = [json.dumps(r) for r in _records(1500, "race")]
    for i in range(0, 1500, 100):
        lines[i] = "{broken " + str(i)
    path = write_jsonl(tmp_path / "race.jsonl", lines)
    for attempt in range(3):
        if attempt:  # a fresh file each round (same content would be skipped as done)
            path = write_jsonl(tmp_path / f"race{attempt}.jsonl", [*lines, f'{{"bad": {attempt}'])
        barrier = threading.Barrier(2)
        reports, errors = [], []

        def run() -> None:
            barrier.wait()
            try:
                reports.append(ingest_paths(ws, [path], paraphrases=False))
            except BaseException as exc:  # noqa: BLE001 - the test reports it
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        total = sum(r.read for r in reports)
        expected_lines = 1500 + (attempt > 0)
        for report in reports:
            _assert_accounted(report)
        if total != expected_lines:  # the loser stopped: its unfinished part is on the winner or left to resume
            assert any(r.incomplete for r in reports)
            ingest_paths(ws, [path], paraphrases=False)
    assert _count(ws, Example) == 1500 - 15
    assert _count(ws, Quarantine) == 15 * 3 + 2  # never doubled
    assert {f.status for f in _file_rows(ws)} == {"done"}


# --- curation checks: invalid tool arguments, no user turn -------------------------------------

def test_tool_call_with_invalid_arguments_and_no_user_turn_are_quarantined(ws, tmp_path: Path) -> None:
    def tool_call(arguments: object) -> dict:
        return {"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."}]}

    records = [
        tool_call('{"city": "Paris"'),  # not JSON
        tool_call("[1, 2]"),  # JSON, not an object
        tool_call('{"city": "Paris"}'),  # fine
        {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "hello"}]},
        {"conversations": [{"from": "gpt", "value": "hi"}]},
    ]
    report = ingest_paths(ws, [write_jsonl(tmp_path / "checks.jsonl", records)])
    assert (report.imported, report.quarantined) == (1, 4)
    reasons = [e.reason for e in report.errors]
    assert reasons[0].startswith("line 1: messages[1].tool_calls[0].function.arguments: not valid JSON")
    assert reasons[1] == "line 2: messages[1].tool_calls[0].function.arguments: expected a JSON object, got list"
    assert reasons[2] == "line 4: messages: no user message (nothing the answer responds to)"
    assert reasons[3] == "line 5: messages: no user message (nothing the answer responds to)"
    with ws.session() as session, pytest.raises(LightdomError, match="no user message"):
        add_example(session, records[3]["messages"], task_type="general", source="test")


# --- watch: a file still being written ---------------------------------------------------------

def test_watch_waits_for_a_file_still_being_written(ws) -> None:
    from lightdom_tui.curation.watch import process_inbox

    target = ws.inbox_dir / "growing.jsonl"
    records = _records(30, "growing")
    done = threading.Event()

    def writer() -> None:
        with open(target, "w") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                time.sleep(0.05)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    imported, passes = 0, 0
    deadline = time.time() + 30
    while time.time() < deadline:
        summary = process_inbox(ws, settle_s=1.0)
        passes += 1
        imported += summary.imported
        if done.is_set() and not any(ws.inbox_dir.glob("*.jsonl")):
            break
    thread.join()
    assert passes >= 2  # the first passes found it unsettled
    assert imported == 30 and _count(ws, Example) == 30
    assert (ws.processed_dir / "growing.jsonl").read_text().count("\n") == 30


# --- the same files through the CLI: one clear line each, no traceback ---------------------------

def test_hostile_files_through_the_cli(ws, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text("not gzip\n")
    packed = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in _records(200, "cli")))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    huge = write_jsonl(tmp_path / "huge.jsonl", [chat("ok", "fine"), '{"n": ' + "1" * 5000 + "}"])
    result = CliRunner().invoke(app, ["--home", str(ws.root), "ingest", str(fake), str(cut), str(huge)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "not gzip" in result.output and "gzip data truncated" in result.output
    assert "number too large" in result.output
    assert {f.status for f in _file_rows(ws)} == {"done"}


def test_toolgen_definition_files_share_the_reader_decoding(tmp_path: Path) -> None:
    from lightdom_tui.curation.toolgen import load_tools

    cases = {"latin1.json": b'{"name": "caf\xe9"}', "huge.json": b'{"name": "f", "n": ' + b"9" * 5000 + b"}",
             "deep.json": b"[" * 5000 + b"]" * 5000, "broken.json": b'{\n  "name": "f",\n  oops\n}'}
    expected = {"latin1.json": "not UTF-8: byte 0xe9", "huge.json": "number too large",
                "deep.json": "nested too deeply", "broken.json": "not JSON: Expecting property name"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LightdomError, match=expected[name]):
            load_tools(tmp_path / name)
    with pytest.raises(LightdomError, match="cannot read"):
        load_tools(tmp_path)
