"""Aliases (``production``, ``staging``, any name): promote, roll back, full history.

Every move is one ``BEGIN IMMEDIATE`` transaction that updates the ``Alias`` row and
appends an ``AliasEvent``; a reader (the router) sees either the old holder or the
new one, never a missing row. Rollback replays the history as a stack: a promote
pushes the new holder, a rollback pops it, so repeated rollbacks walk further back
instead of toggling between two versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from lightdom_tui.db.models import Alias, AliasEvent, ModelVersion, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.db.access import write_session
from lightdom_tui.registry.versions import get_version
from lightdom_tui.workspace import Workspace

ALIAS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
PUSH_ACTIONS = ("promote", "ab_promote")


@dataclass
class AliasMove:
    """Result of a promote or rollback."""

    alias: str
    version: str
    version_id: int
    previous_version: str | None
    previous_version_id: int | None
    action: str
    changed: bool
    event_id: int | None = None


@dataclass
class AliasHistoryEntry:
    """One row of an alias's history."""

    id: int
    created_at: datetime
    alias: str
    action: str
    version: str | None
    previous_version: str | None
    reason: str | None


def check_alias_name(session: Session, alias: str) -> str:
    """Validate an alias name: a word, not a number, not shadowing a version name."""
    alias = alias.strip()
    if not ALIAS_NAME.match(alias):
        raise LightdomError(f"alias '{alias}': use letters, digits, '_', '-', '.', starting with a letter")
    if session.exec(select(ModelVersion.id).where(ModelVersion.version == alias)).first() is not None:
        raise LightdomError(f"alias '{alias}': a model version has that name; pick another alias")
    return alias


def _version_name(session: Session, version_id: int | None) -> str | None:
    if version_id is None:
        return None
    found = session.get(ModelVersion, version_id)
    return found.version if found else None


def move_alias(
    session: Session, version: ModelVersion, alias: str, *, action: str = "promote", reason: str | None = None
) -> AliasMove:
    """Point ``alias`` at ``version`` inside the caller's transaction (used by promote and A/B promote)."""
    alias = check_alias_name(session, alias)
    row = session.exec(select(Alias).where(Alias.name == alias)).first()
    previous_id = row.version_id if row else None
    if previous_id == version.id:
        return AliasMove(alias, version.version, version.id, version.version, previous_id, action, changed=False)
    if row is None:
        row = Alias(name=alias, version_id=version.id)
    else:
        row.version_id, row.updated_at = version.id, utcnow()
    session.add(row)
    event = AliasEvent(
        alias=alias, version_id=version.id, previous_version_id=previous_id, action=action, reason=reason
    )
    session.add(event)
    session.flush()
    return AliasMove(
        alias=alias,
        version=version.version,
        version_id=version.id,
        previous_version=_version_name(session, previous_id),
        previous_version_id=previous_id,
        action=action,
        changed=True,
        event_id=event.id,
    )


def promote(workspace: Workspace, ref: str | int, alias: str = "production", *, reason: str | None = None) -> AliasMove:
    """Make version ``ref`` the holder of ``alias`` (atomic; recorded in the history)."""
    with write_session(workspace) as session:
        return move_alias(session, get_version(session, ref), alias, action="promote", reason=reason)


def holder_stack(session: Session, alias: str) -> list[int]:
    """Holders of ``alias`` oldest first, replaying promotes (push) and rollbacks (pop)."""
    # plain tuples, not ORM rows: a long history replays in milliseconds
    events = session.exec(
        select(AliasEvent.action, AliasEvent.version_id, AliasEvent.previous_version_id)
        .where(AliasEvent.alias == alias)
        .order_by(col(AliasEvent.id))
    ).all()
    stack: list[int] = []
    for action, version_id, previous_version_id in events:
        if action in PUSH_ACTIONS:
            if not stack and previous_version_id is not None:
                stack.append(previous_version_id)  # alias set before history was kept
            stack.append(version_id)
        elif action == "rollback" and stack:
            stack.pop()
            if not stack or stack[-1] != version_id:
                stack.append(version_id)
    existing = set(session.exec(select(ModelVersion.id)).all())
    return [v for v in stack if v in existing]


def rollback(workspace: Workspace, alias: str = "production", *, reason: str | None = None) -> AliasMove:
    """Return ``alias`` to its previous holder, atomically; an error when there is none."""
    with write_session(workspace) as session:
        row = session.exec(select(Alias).where(Alias.name == alias)).first()
        if row is None:
            raise LightdomError(f"alias '{alias}': not set; nothing to roll back")
        stack = holder_stack(session, alias)
        if not stack or stack[-1] != row.version_id:
            stack.append(row.version_id)
        # drop consecutive repeats of the current holder (promoted twice) before picking the target
        while len(stack) >= 2 and stack[-2] == row.version_id:
            stack.pop()
        if len(stack) < 2:
            raise LightdomError(f"alias '{alias}': no previous holder to roll back to")
        target = session.get(ModelVersion, stack[-2])
        assert target is not None  # holder_stack keeps only existing versions
        previous_id = row.version_id
        row.version_id, row.updated_at = target.id, utcnow()
        session.add(row)
        event = AliasEvent(
            alias=alias, version_id=target.id, previous_version_id=previous_id, action="rollback", reason=reason
        )
        session.add(event)
        session.flush()
        return AliasMove(
            alias=alias,
            version=target.version,
            version_id=target.id,
            previous_version=_version_name(session, previous_id),
            previous_version_id=previous_id,
            action="rollback",
            changed=True,
            event_id=event.id,
        )


def alias_history(session: Session, alias: str | None = None, limit: int | None = None) -> list[AliasHistoryEntry]:
    """Alias moves, newest first (all aliases when ``alias`` is None)."""
    query = select(AliasEvent).order_by(col(AliasEvent.id).desc())
    if alias is not None:
        query = query.where(AliasEvent.alias == alias)
    if limit is not None:
        query = query.limit(limit)
    names = {v.id: v.version for v in session.exec(select(ModelVersion)).all()}
    return [
        AliasHistoryEntry(
            id=e.id,
            created_at=e.created_at,
            alias=e.alias,
            action=e.action,
            version=names.get(e.version_id),
            previous_version=names.get(e.previous_version_id) if e.previous_version_id else None,
            reason=e.reason,
        )
        for e in session.exec(query).all()
    ]


def aliases_by_version(session: Session) -> dict[int, list[str]]:
    """Current alias names per version id."""
    result: dict[int, list[str]] = {}
    for row in session.exec(select(Alias).order_by(col(Alias.name))).all():
        result.setdefault(row.version_id, []).append(row.name)
    return result
