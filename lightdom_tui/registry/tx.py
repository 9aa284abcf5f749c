"""Write transactions that take SQLite's write lock up front.

pysqlite opens a transaction only at the first INSERT/UPDATE, so a read-then-write
service (rollback reads the alias history, then moves the alias) would read outside
the transaction and could race another writer. ``BEGIN IMMEDIATE`` makes the whole
read-modify-write one serialised transaction; readers (WAL) are never blocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from lightdom_tui.db.engine import session_scope
from lightdom_tui.workspace import Workspace


def begin_immediate(session: Session) -> None:
    """Take the database write lock now (waits up to the busy timeout)."""
    session.connection().exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_session(workspace: Workspace) -> Iterator[Session]:
    """A short transaction holding the write lock from its first statement to commit."""
    with session_scope(workspace.engine) as session:
        begin_immediate(session)
        yield session
