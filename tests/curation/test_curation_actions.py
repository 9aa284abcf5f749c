"""Curation actions, bulk by filter, undo, auto-rules and keyset paging."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from lightdom_tui.curation.actions import approve, edit_example, reject, undo_last
from lightdom_tui.curation.examples import example_messages
from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.curation.query import ExampleFilter, count_examples, cursor_of, page_examples
from lightdom_tui.curation.rules import AutoRules, apply_rules, decide
from lightdom_tui.db.models import Example
from lightdom_tui.errors import LightdomError


def _statuses(ws) -> dict[int, str]:  # noqa: ANN001
    with ws.session() as session:
        return {e.id: e.status for e in session.exec(select(Example))}


def test_approve_reject_and_multi_level_undo(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    assert approve(ws, [1, 2, 3]).changed == 3
    result = reject(ws, [3, 4], "wrong price")
    assert result.changed == 2
    with ws.session() as session:
        assert session.get(Example, 3).reject_reason == "wrong price"
    undo_last(ws)
    status = _statuses(ws)
    assert (status[3], status[4]) == ("approved", "pending")
    undo_last(ws)
    assert {status for status in _statuses(ws).values()} == {"pending"}
    with pytest.raises(LightdomError, match="nothing to undo"):
        undo_last(ws)
    with pytest.raises(LightdomError, match="needs a reason"):
        reject(ws, [1], " ")
    with pytest.raises(LightdomError, match="example 9999: not found"):
        approve(ws, [9999])


def test_bulk_acts_on_the_whole_filtered_set_not_a_page(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    f = ExampleFilter(task_type="tool_use", status="pending")
    with ws.session() as session:
        assert count_examples(session, f) == 100
        assert len(page_examples(session, f, limit=20)) == 20
    assert approve(ws, f).changed == 100
    with ws.session() as session:
        assert count_examples(session, ExampleFilter(status="approved")) == 100
        assert count_examples(session, ExampleFilter(status="approved", task_type="attribute_generation")) == 0
    reject(ws, ExampleFilter(text="item 7?"), "test")  # only example 1 (i=1 → item 7)
    undo_last(ws)
    undo_last(ws)
    with ws.session() as session:
        assert count_examples(session, ExampleFilter(status="pending")) == 200


def test_edit_keeps_original_and_undo_removes_correction(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    with ws.session() as session:
        messages = example_messages(session.get(Example, 5))
    messages[-1]["content"] = "It costs 4.99 EUR (corrected)."
    result = edit_example(ws, 5, messages, reason="price typo")
    with ws.session() as session:
        original, correction = session.get(Example, 5), session.get(Example, result.new_example_id)
        assert original.status == "rejected" and original.reject_reason == f"corrected by #{correction.id}"
        assert correction.parent_id == 5 and correction.status == "approved"
        assert example_messages(original)[-1]["content"] != messages[-1]["content"]
    undo_last(ws)
    with ws.session() as session:
        assert session.get(Example, result.new_example_id) is None
        assert session.get(Example, 5).status == "pending"


def test_decide_is_pure_and_deterministic() -> None:
    class Row:
        def __init__(self, status: str, task_type: str, confidence: float | None, quality: float | None) -> None:
            self.status, self.task_type, self.confidence, self.quality_score = status, task_type, confidence, quality

    rules = AutoRules(min_confidence=0.7, min_quality=0.8, task_types=["curation"])
    cases = [
        (Row("pending", "curation", 0.9, 0.9), "approved"),
        (Row("pending", "curation", 0.5, 0.9), "rejected"),
        (Row("pending", "curation", 0.9, 0.5), "rejected"),
        (Row("pending", "curation", None, 0.9), "pending"),
        (Row("pending", "tool_use", 0.9, 0.9), "pending"),
        (Row("rejected", "curation", 0.9, 0.9), "rejected"),
    ]
    for row, expected in cases:
        assert decide(row, rules) == expected
        assert decide(row, rules) == expected  # same input, same answer
    assert decide(Row("rejected", "curation", 0.9, 0.9), AutoRules(min_confidence=0.7, exclude_rejected=False)) == "approved"
    assert decide(Row("pending", "curation", 0.9, 0.9), AutoRules()) == "pending"


def test_apply_rules_matches_decide_and_is_undoable(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    rules = AutoRules(min_confidence=0.5)
    dry = apply_rules(ws, rules, dry_run=True)
    assert set(_statuses(ws).values()) == {"pending"}
    result = apply_rules(ws, rules)
    assert (result.approved, result.rejected) == (dry.approved, dry.rejected) == (100, 100)
    with ws.session() as session:
        for example in session.exec(select(Example)):
            assert example.status == ("approved" if example.confidence >= 0.5 else "rejected")
    undo_last(ws)
    assert set(_statuses(ws).values()) == {"pending"}


def test_keyset_pages_cover_everything_once(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    for sort in ("id", "-id", "-quality_score", "created_at"):
        seen: list[int] = []
        after = None
        with ws.session() as session:
            while True:
                page = page_examples(session, ExampleFilter(), after=after, limit=37, sort=sort)
                if not page:
                    break
                seen.extend(e.id for e in page)
                after = cursor_of(page[-1], sort)
        assert sorted(seen) == list(range(1, 201)) and len(seen) == 200, sort
    with ws.session() as session:
        first = page_examples(session, ExampleFilter(status="pending", min_quality=0.5), limit=5, sort="-id")
        assert [e.id for e in first] == [200, 199, 198, 197, 196]
    with pytest.raises(LightdomError, match="sort"):
        with ws.session() as session:
            page_examples(session, sort="colour")


def test_pages_walk_an_index_instead_of_sorting(ws, corpus: Path) -> None:
    """Every TUI sort with a status/task filter must be served by an index (no temp B-tree over 1M rows)."""
    from sqlalchemy import event

    ingest_paths(ws, [corpus])
    captured: list[tuple] = []

    def capture(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        captured.append((statement, params))

    event.listen(ws.engine, "before_cursor_execute", capture)
    try:
        with ws.session() as session:
            for sort in ("id", "-id", "quality_score", "-quality_score", "-created_at"):
                for f in (ExampleFilter(), ExampleFilter(status="pending"),
                          ExampleFilter(status="pending", task_type="tool_use", min_quality=0.1)):
                    captured.clear()
                    assert page_examples(session, f, limit=10, sort=sort)
                    statement, params = captured[-1]
                    plan = " | ".join(r[-1] for r in session.connection().exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, params).fetchall())
                    assert "TEMP B-TREE" not in plan, (sort, f, plan)  # index or rowid order
    finally:
        event.remove(ws.engine, "before_cursor_execute", capture)
