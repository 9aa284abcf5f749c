"""Hypothesis: malformed and adversarial lines never crash ingest and are all accounted for."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.db.models import Example, Quarantine

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "robot", "", None, 3])
message = st.fixed_dictionaries(
    {"role": roles},
    optional={
        "content": st.none() | st.text(max_size=40) | st.integers() | json_values,
        "tool_calls": st.none() | json_values | st.lists(st.fixed_dictionaries(
            {"id": st.text(max_size=5) | st.integers(),
             "function": st.fixed_dictionaries({"name": st.text(max_size=5) | st.none(),
                                                "arguments": st.text(max_size=20) | json_values})}), max_size=2),
        "tool_call_id": st.none() | st.text(max_size=5) | st.integers(),
    },
)
record = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(message, max_size=5)}),
    st.fixed_dictionaries({"messages": json_values}),
    st.fixed_dictionaries({"instruction": json_values, "output": json_values}, optional={"input": json_values}),
    st.fixed_dictionaries({"prompt": json_values, "completion": json_values}),
    st.fixed_dictionaries({"conversations": st.lists(st.fixed_dictionaries(
        {"from": st.sampled_from(["human", "gpt", "system", "alien", "function_call", "observation"]),
         "value": st.text(max_size=20) | json_values}), max_size=4)}),
    st.fixed_dictionaries({"prompt": st.text(max_size=20), "output": json_values},
                          optional={"confidence": json_values, "task_type": json_values, "metadata": json_values}),
    json_values,
)


def _line(value: object) -> bytes:
    return json.dumps(value).encode()


adversarial_bytes = st.one_of(
    record.map(_line),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.text(max_size=60).map(lambda t: t.replace("\n", " ").replace("\r", " ").encode("utf-8", "surrogatepass")),
    st.just(b'{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "x"}]}'),
    st.just(b'{"messages": [{"role": "user", "content": "nul\\u0000"}, {"role": "assistant", "content": "x"}]}'),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.just(b'{"prompt": "' + b"x" * 300_000 + b'", "completion": "y"}'),
    st.just(b'{"prompt": "big", "completion": "int", "metadata": {"n": 123456789012345678901234567890}}'),
    st.just(b"\xef\xbb\xbf{}"),
)
_counter = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(lines=st.lists(adversarial_bytes, min_size=1, max_size=25))
def test_every_line_is_accounted_for(ws, tmp_path: Path, lines: list[bytes]) -> None:
    n = next(_counter)
    path = tmp_path / f"fuzz{n}.jsonl"
    unique = json.dumps({"prompt": f"unique {n}", "completion": "ok"}).encode()  # makes each file new
    path.write_bytes(b"\n".join([*lines, unique]) + b"\n")
    records = sum(1 for raw in [*lines, unique] if raw.strip())
    with ws.session() as session:
        examples_before = session.exec(select(func.count()).select_from(Example)).one()
        quarantine_before = session.exec(select(func.count()).select_from(Quarantine)).one()
    report = ingest_paths(ws, [path])
    assert report.read == report.imported + report.duplicates + report.quarantined
    assert report.read == records
    assert report.imported >= 1
    with ws.session() as session:
        assert session.exec(select(func.count()).select_from(Example)).one() - examples_before == report.imported
        assert session.exec(select(func.count()).select_from(Quarantine)).one() - quarantine_before == report.quarantined
    assert all(e.reason.startswith(f"line {e.line}: ") for e in report.errors)
