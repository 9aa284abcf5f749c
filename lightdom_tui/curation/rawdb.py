"""Bulk writes for curation: the raw connection and write transaction of ``db.access``, and the statements.

The ORM is too slow for a million rows; ingest and bulk actions use ``executemany``
on ``db.access.raw_connection`` (the engine's PRAGMAs) inside ``immediate`` transactions.
"""

from __future__ import annotations

from datetime import datetime, timezone

from lightdom_tui.db.access import columns, immediate, insert_sql, raw_connection
from lightdom_tui.db.models import Example, Quarantine

# Column lists come from the models (db.access), never copied by hand: a new column cannot be missed.
EXAMPLE_COLUMNS = columns(Example)
INSERT_EXAMPLE = insert_sql(Example, or_ignore=True)
INSERT_QUARANTINE = insert_sql(Quarantine, ("created_at", "file", "line", "raw", "reason"))
connect = raw_connection  # the one raw connection (db.access): the engine's PRAGMAs, explicit transactions
__all__ = ["EXAMPLE_COLUMNS", "INSERT_EXAMPLE", "INSERT_QUARANTINE", "chunks", "connect", "db_now", "immediate"]


def db_now() -> str:
    """UTC now in the text form SQLAlchemy stores DateTime columns in on SQLite."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def chunks(items: list, size: int = 500) -> list[list]:
    """Split a parameter list (SQLite caps bound parameters per statement)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
