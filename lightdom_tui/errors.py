"""Errors that are the user's to fix: the CLI prints them as one line, no traceback."""

from __future__ import annotations


class LightdomError(Exception):
    """A clear, user-facing error; the message names the input at fault."""


class NotAWorkspaceError(LightdomError):
    """The chosen folder has not been initialised with ``lightdom init``."""


class SchemaTooNewError(LightdomError):
    """The database was written by a newer LightDom than this one."""


class DatabaseFault(LightdomError):
    """The workspace database cannot be used: damaged, read-only, locked or full."""


class ConfirmationRequired(LightdomError):
    """A cascading delete needs explicit confirmation (CLI ``--yes``); ``counts`` says what would go with it.

    Here, not in the campaign tree, so that both faces can ask before deleting without importing a service.
    """

    def __init__(self, message: str, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts


# What SQLite's own words mean for the user, first match wins.
_SQLITE_HINTS = (
    ("file is not a database", "not a SQLite database (damaged, or another kind of file)"),
    ("readonly", "cannot write: the workspace is read-only (check its permissions)"),
    ("unable to open database", "cannot open: the folder is missing, unreadable or read-only"),
    ("database is locked", "busy: another LightDom process holds the write lock; try again"),
    ("disk is full", "the disk is full"),
    ("disk i/o error", "disk I/O error (damaged file or failing disk)"),
    ("malformed", "the database file is damaged (malformed)"),
)


def database_error(db_path: object, exc: BaseException) -> LightdomError | None:
    """``exc`` (a SQLite or SQLAlchemy error) as one clear error naming ``db_path``; None for anything else."""
    if isinstance(exc, LightdomError):
        return exc
    import sqlite3

    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        reason = str(exc.orig)
    elif isinstance(exc, (SQLAlchemyError, sqlite3.Error)):
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        return None
    hint = next((text for needle, text in _SQLITE_HINTS if needle in reason.lower()), reason)
    return DatabaseFault(f"database {db_path}: {hint}")
