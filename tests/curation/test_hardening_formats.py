"""Issue 18: hypothesis over every ingest format — no traceback, every line accounted for, nothing outside the workspace.

Files are built from good records and hostile ones (broken JSON, bad UTF-8, huge integers,
invalid tool arguments, no user turn, deep nesting), written as JSONL, JSON arrays (one
per line, indented or compact) or their gzip forms, sometimes truncated or not gzip at all.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.db.models import Example, IngestFile, Quarantine

_counter = itertools.count()

good = st.builds(
    lambda q, a: json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}),
    st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
# hostile records that stay one balanced JSON-ish value (so JSON arrays keep their element count)
hostile = st.sampled_from([
    '{"prompt": "p", "completion": "c", "metadata": {"n": ' + "9" * 4301 + "}}",
    '{"prompt": "p" "completion": "c"}',
    "{'prompt': 'p', 'completion': 'c'}",
    '{"prompt": tru, "completion": "c"}',
    '{"messages": [{"role": "assistant", "content": "no user"}]}',
    '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null, "tool_calls": '
    '[{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}',
    '{"prompt": "\\ud800", "completion": "lone surrogate"}',
    "[" * 3000 + "]" * 3000,
    "12345",
    '"just a string"',
    '{"prompt": "x", "completion": "y", "confidence": 1e999}',
    '{"a\\nb\\u001b[2J": 1}',
])
bad_bytes = st.sampled_from([b'{"prompt": "caf\xe9", "completion": "latin-1"}', b"\xff\xfe{}", b"{\x00}"])
record = st.one_of(good, good, hostile)
layouts = st.sampled_from(["jsonl", "json_lines", "json_indented", "json_compact"])


def _encode(layout: str, texts: list[bytes]) -> bytes:
    if layout == "jsonl":
        return b"\n".join(texts) + b"\n"
    if layout == "json_lines":
        return b"[\n" + b",\n".join(texts) + b"\n]\n"
    if layout == "json_indented":
        return b"[\n  " + b",\n  ".join(texts) + b"\n]"
    return b"[" + b", ".join(texts) + b"]"


def _tree(root: Path, skip: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if skip not in p.parents and p != skip}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(layout=layouts, texts=st.lists(st.one_of(record.map(str.encode), bad_bytes), min_size=1, max_size=30),
       gz=st.sampled_from(["no", "no", "gzip", "truncated", "fake"]), cut=st.floats(0.1, 0.95))
def test_ingest_formats_account_for_every_line(ws, tmp_path: Path, layout: str, texts: list[bytes], gz: str,
                                               cut: float) -> None:
    n = next(_counter)
    texts = [*texts, json.dumps({"prompt": f"unique {n}", "completion": "ok"}).encode()]  # each file is new
    data = _encode(layout, texts)
    suffix = ".jsonl" if layout == "jsonl" else ".json"
    if gz != "no":
        suffix += ".gz"
        packed = gzip.compress(data)
        # cut the compressed stream itself (its trailer at least), so the file really ends early
        truncated = packed[: max(11, min(len(packed) - 9, int(len(packed) * cut)))]
        data = {"gzip": packed, "fake": data, "truncated": truncated}[gz]
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    path = inputs / f"fuzz{n}{suffix}"
    path.write_bytes(data)
    before_tree = _tree(tmp_path, ws.root)
    cwd_before = set(os.listdir(os.getcwd()))
    with ws.session() as session:
        examples_before = session.exec(select(func.count()).select_from(Example)).one()
        quarantine_before = session.exec(select(func.count()).select_from(Quarantine)).one()

    report = ingest_paths(ws, [path])  # no traceback: any exception fails the test

    assert report.read == report.imported + report.duplicates + report.quarantined
    assert not report.incomplete
    if gz in ("no", "gzip"):
        assert report.read == len(texts)  # every record counted, one item each
        assert report.imported >= 1
    elif gz == "fake":
        assert report.read == 1 and "not gzip" in report.errors[0].reason
    else:
        assert report.quarantined >= 1  # the cut is reported, whatever came before it
    with ws.session() as session:
        assert session.exec(select(func.count()).select_from(Example)).one() - examples_before == report.imported
        assert session.exec(select(func.count()).select_from(Quarantine)).one() - quarantine_before == report.quarantined
        status = session.exec(select(IngestFile.status).where(IngestFile.path == str(path))).one()
    assert status == "done"
    assert all(e.reason.startswith(f"line {e.line}: ") and "\n" not in e.reason for e in report.errors)
    assert _tree(tmp_path, ws.root) == before_tree  # nothing written next to the input or elsewhere
    assert set(os.listdir(os.getcwd())) == cwd_before


@settings(max_examples=150, deadline=None)
@given(base=st.lists(good, min_size=1, max_size=12), layout=layouts,
       edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(list(b'{}[]",:\\\n x0')), st.booleans()),
                      max_size=6),
       split=st.integers(1, 64))
def test_mutated_json_never_raises_and_keeps_good_elements(tmp_path_factory, base: list[str], layout: str,
                                                          edits: list, split: int) -> None:
    from lightdom_tui.curation import reader

    data = bytearray(_encode(layout, [t.encode() for t in base]))
    for where, byte, insert in edits:  # insert or overwrite structural bytes anywhere
        at = int(where * (len(data) - 1))
        if insert:
            data.insert(at, byte)
        else:
            data[at] = byte
    path = tmp_path_factory.mktemp("mut") / ("m.jsonl" if layout == "jsonl" else "m.json")
    path.write_bytes(bytes(data))
    source = reader.ByteSource(path)
    whole = list(reader.iter_items(path, source=source))
    for item in whole:  # a good item is exactly its text; a bad one is one line naming the fault
        if item.error is None:
            assert json.loads(item.raw_text()) == item.value
        else:
            assert item.error and "\n" not in item.error
    assert [item.position for item in whole] == sorted({item.position for item in whole})
    if not edits:
        assert [item.value for item in whole] == [json.loads(t) for t in base]
    # block boundaries anywhere give the same items as one block
    splitter = reader._ValueSplitter(0)
    if layout != "jsonl":
        items = [i for k in range(0, len(data), split) for i in splitter.feed(bytes(data[k:k + split]))]
        items += list(splitter.finish())
        if splitter.last is not None:
            items.append(splitter.last)
        assert [(i.position, i.error is None, i.value) for i in items] == \
            [(i.position, i.error is None, i.value) for i in whole]
