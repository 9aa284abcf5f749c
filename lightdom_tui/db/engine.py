"""SQLite engine (WAL, foreign keys, busy timeout), session helper and migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from lightdom_tui.errors import LightdomError, SchemaTooNewError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000


def _apply_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
    """Per-connection settings: SQLite forgets them on every new connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_engine(db_path: Path) -> Engine:
    """Create the engine for a workspace database file with our PRAGMAs on every connection."""
    engine = create_engine(
        f"sqlite:///{db_path}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _apply_pragmas)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short transaction: commit on success, roll back on error, always close."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine):  # noqa: ANN202 - alembic type imported lazily
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", str(engine.url))
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


_MIGRATE_LOCK = threading.Lock()


def migrate(engine: Engine, target: str = "head") -> str:
    """Bring the database to ``target``; refuse a database newer than this code.

    Returns the revision the database is at afterwards.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    current = current_revision(engine)
    if current is not None:
        try:
            known = script.get_revision(current)
        except Exception:  # alembic raises several types for unknown ids
            known = None
        if known is None:
            raise SchemaTooNewError(
                f"database {engine.url.database} is at schema revision {current}, newer than this "
                f"LightDom knows (head {script.get_current_head()}): upgrade lightdom-tui"
            )
    if target == "head" and current == script.get_current_head():
        return current  # the common case: nothing to run, and alembic's global context untouched
    config = _alembic_config(engine)
    # alembic's `context` is a module-level proxy: two threads opening workspaces at once
    # (scheduler workers, TUI workers) would trample each other's migration environment.
    with _MIGRATE_LOCK, engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, target)
        except Exception as exc:  # a failed migration must name itself, not dump SQL
            raise LightdomError(f"migrating {engine.url.database} failed: {exc}") from exc
    revision = current_revision(engine)
    assert revision is not None
    return revision
