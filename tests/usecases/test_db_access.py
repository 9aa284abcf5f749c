"""The one database access path: column lists from the models, explicit raw write transactions."""

from __future__ import annotations

import pytest

from lightdom_tui.db.access import columns, immediate, insert_sql, raw_connection, write_session
from lightdom_tui.db.models import Example, Quarantine


def test_bulk_statements_come_from_the_models() -> None:
    from lightdom_tui.curation import rawdb

    assert rawdb.EXAMPLE_COLUMNS == tuple(c.name for c in Example.__table__.columns)
    assert rawdb.INSERT_EXAMPLE.startswith("INSERT OR IGNORE INTO example (id, created_at,")
    assert insert_sql(Quarantine, ("file", "line")) == "INSERT INTO quarantine (file, line) VALUES (?, ?)"
    with pytest.raises(ValueError, match="quarantine: no column"):
        insert_sql(Quarantine, ("file", "nope"))


def test_raw_write_transactions_commit_roll_back_or_dry_run(workspace) -> None:  # noqa: ANN001
    conn = raw_connection(workspace)
    try:
        sql = insert_sql(Quarantine, ("created_at", "file", "line", "raw", "reason"))
        row = ("2026-01-01 00:00:00.000000", "f.jsonl", 1, "{", "bad JSON")
        with immediate(conn):
            conn.execute(sql, row)
        with pytest.raises(RuntimeError), immediate(conn):
            conn.execute(sql, row)
            raise RuntimeError("boom")
        with immediate(conn, commit=False):
            conn.execute(sql, row)
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()
    with write_session(workspace) as session:  # the ORM's write path takes the same lock up front
        assert session.get(Quarantine, 1).reason == "bad JSON"
    assert columns(Quarantine)[0] == "id"
