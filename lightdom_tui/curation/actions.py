"""Curation actions: approve, reject (with reason), edit/correct, bulk by filter, undo.

Every user action is one ``CurationEvent`` batch (one row per example changed), so
``undo_last`` reverts exactly the last action, and calling it again the one before.
Bulk actions run as set-based SQL over the WHOLE filtered selection (not a page):
one ``INSERT … SELECT`` records the events, one ``UPDATE`` applies them.

Functions accept a ``Workspace`` (own short transaction) or an open ``Session``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, select, text, update
from sqlmodel import Session

from lightdom_tui.curation.examples import add_example, example_messages, get_example
from lightdom_tui.curation.query import ExampleFilter
from lightdom_tui.db.models import CurationEvent, DatasetItem, Example, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

Selection = int | list[int] | tuple[int, ...] | ExampleFilter


@dataclass
class ActionResult:
    """What an action changed; ``batch_id`` identifies it for undo."""

    action: str
    batch_id: str | None
    changed: int
    new_example_id: int | None = None


@contextmanager
def using_session(target: Workspace | Session) -> Iterator[Session]:
    """The given session, or a new short transaction on the workspace."""
    if isinstance(target, Session):
        yield target
    else:
        with target.session() as session:
            yield session


def _as_filter(selection: Selection) -> ExampleFilter:
    if isinstance(selection, ExampleFilter):
        return selection
    if isinstance(selection, int):
        return ExampleFilter(ids=[selection])
    ids = list(selection)
    if not ids:
        raise LightdomError("selection: no example ids given")
    return ExampleFilter(ids=ids)


def set_status(
    session: Session, selection: Selection, to_status: str, *, action: str, reason: str | None = None,
    batch_id: str | None = None,
) -> ActionResult:
    """Move every selected example whose status differs to ``to_status``, recording one event batch."""
    f = _as_filter(selection)
    if f.ids is not None:
        known = set(session.execute(select(Example.id).where(Example.id.in_(f.ids))).scalars())
        missing = sorted(set(f.ids) - known)
        if missing:
            raise LightdomError(f"example {missing[0]}: not found")
    batch_id = batch_id or uuid.uuid4().hex
    now = utcnow()
    conds = [*f.conditions(), Example.status != to_status]
    chosen = select(
        literal(now), literal(batch_id), Example.id, literal(action), Example.status, literal(to_status),
        literal(reason), literal(False),
    ).where(and_(*conds))
    columns = ["created_at", "batch_id", "example_id", "action", "from_status", "to_status", "reason", "undone"]
    session.execute(insert(CurationEvent).from_select(columns, chosen))
    batch_ids = select(CurationEvent.example_id).where(CurationEvent.batch_id == batch_id)
    values: dict[str, Any] = {"status": to_status, "updated_at": now}
    values["reject_reason"] = reason if to_status == "rejected" else None
    result = session.execute(update(Example).where(Example.id.in_(batch_ids), *conds).values(**values))
    changed = result.rowcount or 0
    return ActionResult(action, batch_id if changed else None, changed)


def approve(target: Workspace | Session, selection: Selection) -> ActionResult:
    """Approve examples (ids or a filter over the whole table)."""
    with using_session(target) as session:
        return set_status(session, selection, "approved", action="approve")


def reject(target: Workspace | Session, selection: Selection, reason: str) -> ActionResult:
    """Reject examples with a reason (ids or a filter over the whole table)."""
    if not reason or not reason.strip():
        raise LightdomError("reason: a rejection needs a reason")
    with using_session(target) as session:
        return set_status(session, selection, "rejected", action="reject", reason=reason.strip())


def edit_example(
    target: Workspace | Session, example_id: int, messages: list[dict[str, Any]], *, reason: str | None = None,
) -> ActionResult:
    """Correct an example: the correction is a new approved example linked by ``parent_id``.

    The original is kept, marked rejected with "corrected by #N"; undo reverts both.
    """
    with using_session(target) as session:
        original = get_example(session, example_id)
        if example_messages(original) == messages:
            raise LightdomError(f"example {example_id}: the edit changes nothing")
        from lightdom_tui.db.jsoncol import loads

        metadata = loads(original.metadata_json, {})
        metadata["corrected_from"] = example_id
        if reason:
            metadata["correction_reason"] = reason
        correction = add_example(
            session, messages, task_type=original.task_type, source=original.source, status="approved",
            metadata=metadata, parent_id=example_id, confidence=original.confidence,
        )
        if correction.parent_id != example_id:
            raise LightdomError(f"example {example_id}: the corrected conversation already exists as #{correction.id}")
        batch_id = uuid.uuid4().hex
        session.add(CurationEvent(batch_id=batch_id, example_id=correction.id, action="edit", from_status="new",
                                  to_status="approved", reason=reason))
        set_status(session, example_id, "rejected", action="edit", reason=f"corrected by #{correction.id}",
                   batch_id=batch_id)
        return ActionResult("edit", batch_id, 1, new_example_id=correction.id)


def last_undoable(session: Session) -> tuple[str, str] | None:
    """(batch id, action) of the newest action not yet undone: what ``undo_last`` reverts."""
    row = session.execute(
        select(CurationEvent.batch_id, CurationEvent.action)
        .where(CurationEvent.undone.is_(False), CurationEvent.action != "undo")
        .order_by(CurationEvent.id.desc()).limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def batch_size(session: Session, batch_id: str) -> tuple[int, Any]:
    """How many existing examples a batch changed, and when it ran."""
    count, created = session.execute(
        select(func.count(CurationEvent.id), func.max(CurationEvent.created_at))
        .where(CurationEvent.batch_id == batch_id, CurationEvent.from_status != "new")
    ).one()
    return int(count), created


def undo_last(target: Workspace | Session) -> ActionResult:
    """Revert the most recent action not yet undone (repeat to go further back)."""
    with using_session(target) as session:
        row = last_undoable(session)
        if row is None:
            raise LightdomError("undo: nothing to undo")
        batch_id, action = row
        created = [r[0] for r in session.execute(
            select(CurationEvent.example_id).where(CurationEvent.batch_id == batch_id,
                                                   CurationEvent.from_status == "new"))]
        # Restore status; a restored rejection gets back its previous reason.
        restored = session.execute(text(
            """
            UPDATE example SET
              status = ev.from_status,
              updated_at = :now,
              reject_reason = CASE WHEN ev.from_status = 'rejected' THEN (
                  SELECT e2.reason FROM curationevent e2
                  WHERE e2.example_id = example.id AND e2.to_status = 'rejected'
                    AND e2.batch_id != :batch AND e2.undone = 0
                  ORDER BY e2.id DESC LIMIT 1) ELSE NULL END
            FROM (SELECT example_id, from_status FROM curationevent
                  WHERE batch_id = :batch AND from_status != 'new') AS ev
            WHERE example.id = ev.example_id
            """), {"now": utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"), "batch": batch_id})
        changed = restored.rowcount or 0
        session.execute(update(CurationEvent).where(CurationEvent.batch_id == batch_id).values(undone=True))
        for example_id in created:  # an undone edit removes its correction unless something uses it
            used = session.execute(select(DatasetItem.id).where(DatasetItem.example_id == example_id).limit(1)).first()
            referenced = session.execute(select(Example.id).where(
                (Example.near_duplicate_of == example_id) | (Example.parent_id == example_id)).limit(1)).first()
            if used or referenced:
                session.execute(update(Example).where(Example.id == example_id)
                                .values(status="rejected", reject_reason="edit undone"))
            else:
                session.execute(delete(CurationEvent).where(CurationEvent.example_id == example_id))
                session.execute(delete(Example).where(Example.id == example_id))
            changed += 1
        session.add(CurationEvent(batch_id=uuid.uuid4().hex, example_id=_first_example(session, batch_id, created),
                                  action="undo", from_status=action, to_status=action, reason=f"undo {batch_id}",
                                  undone=True))
        return ActionResult("undo", batch_id, changed)


def _first_example(session: Session, batch_id: str, created: list[int]) -> int:
    """An example the undo marker can point at (the FK needs one that still exists)."""
    row = session.execute(select(CurationEvent.example_id).where(
        CurationEvent.batch_id == batch_id, CurationEvent.example_id.not_in(created)).limit(1)).first()
    return row[0] if row else created[0]
