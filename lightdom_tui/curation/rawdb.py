"""A raw ``sqlite3`` connection on the workspace database for bulk writes.

The ORM is too slow for a million rows; ingest and bulk actions use ``executemany``
on this connection, with the same PRAGMAs as the engine (WAL, foreign keys, busy timeout)
and explicit ``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from lightdom_tui.db.engine import BUSY_TIMEOUT_MS
from lightdom_tui.workspace import Workspace

CACHE_KIB = 64 * 1024
EXAMPLE_COLUMNS = (
    "id", "created_at", "updated_at", "source", "task_type", "status", "messages_json", "content_hash",
    "near_hash", "near_duplicate_of", "parent_id", "quality_score", "confidence", "token_count",
    "reject_reason", "metadata_json",
)
INSERT_EXAMPLE = (
    f"INSERT OR IGNORE INTO example ({', '.join(EXAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EXAMPLE_COLUMNS)})"
)
INSERT_QUARANTINE = "INSERT INTO quarantine (created_at, file, line, raw, reason) VALUES (?, ?, ?, ?, ?)"


def connect(ws: Workspace) -> sqlite3.Connection:
    """Open a raw connection in autocommit mode (transactions are explicit)."""
    conn = sqlite3.connect(ws.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # bulk writes: keep the hash indexes' hot pages cached
    return conn


def db_now() -> str:
    """UTC now in the text form SQLAlchemy stores DateTime columns in on SQLite."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def chunks(items: list, size: int = 500) -> list[list]:
    """Split a parameter list (SQLite caps bound parameters per statement)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
