"""Reading the quarantine: lines that could not be imported (file, line, raw text, reason)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from lightdom_tui.db.models import Quarantine


def list_quarantine(session: Session, *, limit: int = 200, file: str | None = None,
                    before: int | None = None) -> list[Quarantine]:
    """The newest quarantined lines (keyset: pass the last id as ``before`` for older ones)."""
    statement = select(Quarantine)
    if file:
        statement = statement.where(Quarantine.file.contains(file))
    if before is not None:
        statement = statement.where(Quarantine.id < before)
    return list(session.exec(statement.order_by(Quarantine.id.desc()).limit(limit)).all())


def count_quarantine(session: Session, *, file: str | None = None) -> int:
    """How many quarantined lines there are (optionally for one file)."""
    statement = select(func.count()).select_from(Quarantine)
    if file:
        statement = statement.where(Quarantine.file.contains(file))
    return session.exec(statement).one()
