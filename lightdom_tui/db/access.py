"""The one way into the workspace database: sessions, write transactions, bulk writes.

- ``Workspace.session`` (``engine.session_scope``): a short ORM transaction (commit on success).
- ``write_session``: the same, holding SQLite's write lock from the first statement
  (``BEGIN IMMEDIATE``), for read-modify-write services that must not race.
- ``raw_connection`` + ``immediate``: a plain ``sqlite3`` connection with the engine's
  PRAGMAs and an explicit write transaction, for bulk ``executemany`` (the ORM is too
  slow for a million rows).
- ``columns`` / ``insert_sql``: column lists derived from the models, never copied by hand.

pysqlite opens a transaction only at the first INSERT/UPDATE, so a read-then-write
would otherwise read outside the transaction; ``BEGIN IMMEDIATE`` makes the whole
read-modify-write one serialised transaction, and readers (WAL) are never blocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlmodel import Session, SQLModel

from lightdom_tui.db.engine import BUSY_TIMEOUT_MS, session_scope

if TYPE_CHECKING:  # pragma: no cover - the workspace imports db, not the other way round at runtime
    from lightdom_tui.workspace import Workspace

CACHE_KIB = 64 * 1024


def begin_immediate(session: Session) -> None:
    """Take the database write lock now (waits up to the busy timeout)."""
    session.connection().exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_session(ws: Workspace) -> Iterator[Session]:
    """A short transaction holding the write lock from its first statement to commit."""
    with session_scope(ws.engine) as session:
        begin_immediate(session)
        yield session


def raw_connection(ws: Workspace) -> sqlite3.Connection:
    """A raw connection in autocommit mode (transactions are explicit), with the engine's PRAGMAs."""
    conn = sqlite3.connect(ws.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # bulk writes: keep the hash indexes' hot pages cached
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection, *, commit: bool = True) -> Iterator[sqlite3.Connection]:
    """One explicit write transaction on a raw connection: ``BEGIN IMMEDIATE`` … ``COMMIT``.

    Rolls back on error, and at the end when ``commit`` is False (a dry run that wants the
    same locking and reads as the real thing).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT" if commit else "ROLLBACK")


def columns(model: type[SQLModel]) -> tuple[str, ...]:
    """A table's column names in the model's order (what bulk inserts bind by position)."""
    return tuple(model.__table__.columns.keys())  # type: ignore[attr-defined]


def insert_sql(model: type[SQLModel], cols: tuple[str, ...] | None = None, *, or_ignore: bool = False) -> str:
    """``INSERT [OR IGNORE] INTO table (cols) VALUES (?, …)`` for a model (all its columns by default)."""
    cols = cols or columns(model)
    unknown = set(cols) - set(columns(model))
    if unknown:
        raise ValueError(f"{model.__tablename__}: no column(s) {', '.join(sorted(unknown))}")  # type: ignore[attr-defined]
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    return (f"{verb} INTO {model.__tablename__} ({', '.join(cols)}) "  # type: ignore[attr-defined]
            f"VALUES ({', '.join('?' for _ in cols)})")
