"""Filtering and keyset pagination over examples (the TUI pages a million rows with these).

``page_examples`` never uses OFFSET: it continues after a cursor (the last row's sort
value and id), so every page costs the same whatever its depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from lightdom_tui.db.models import Example
from lightdom_tui.errors import LightdomError

SORTS = ("id", "-id", "quality_score", "-quality_score", "created_at", "-created_at")


@dataclass
class ExampleFilter:
    """Which examples an action, a count or a page applies to (all fields optional, ANDed)."""

    status: str | list[str] | None = None
    task_type: str | list[str] | None = None
    source: str | list[str] | None = None
    min_quality: float | None = None
    max_quality: float | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    text: str | None = None  # substring of the conversation (slow: scans messages)
    ids: list[int] | None = None
    near_duplicates: bool | None = None  # True: only flagged ones; False: only unflagged
    corrections: bool | None = None  # True: only corrections (parent_id set)

    def is_empty(self) -> bool:
        """True when the filter selects every example."""
        return not self.conditions()

    def conditions(self, *, unindexed: bool = False) -> list[ColumnElement[bool]]:
        """SQL conditions for this filter.

        ``unindexed`` writes the equality tests so SQLite cannot use their indexes: a page sorted
        by quality or time then walks that column's index and stops after ``limit`` rows,
        instead of sorting every matching row.
        """
        conds: list[ColumnElement[bool]] = []
        for column, value in ((Example.status, self.status), (Example.task_type, self.task_type),
                              (Example.source, self.source)):
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            target = column.concat("") if unindexed else column
            conds.append(target == values[0] if len(values) == 1 else target.in_(values))
        if self.min_quality is not None:
            conds.append(Example.quality_score >= self.min_quality)
        if self.max_quality is not None:
            conds.append(Example.quality_score <= self.max_quality)
        if self.min_confidence is not None:
            conds.append(Example.confidence >= self.min_confidence)
        if self.max_confidence is not None:
            conds.append(Example.confidence <= self.max_confidence)
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(Example.messages_json.like(f"%{escaped}%", escape="\\"))
        if self.ids is not None:
            conds.append(Example.id.in_(list(self.ids)))
        if self.near_duplicates is not None:
            column = Example.near_duplicate_of
            conds.append(column.is_not(None) if self.near_duplicates else column.is_(None))
        if self.corrections is not None:
            conds.append(Example.parent_id.is_not(None) if self.corrections else Example.parent_id.is_(None))
        return conds

    def to_dict(self) -> dict[str, Any]:
        """Non-empty fields (recorded with bulk actions and dataset versions)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def count_examples(session: Session, f: ExampleFilter | None = None) -> int:
    """Number of examples matching ``f``."""
    statement = select(func.count()).select_from(Example)
    conds = (f or ExampleFilter()).conditions()
    if conds:
        statement = statement.where(and_(*conds))
    return session.exec(statement).one()


def _sort_key(sort: str) -> tuple[Any, bool]:
    if sort not in SORTS:
        raise LightdomError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
    descending = sort.startswith("-")
    return getattr(Example, sort.lstrip("-")), descending


def cursor_of(example: Example, sort: str = "id") -> Any:
    """The cursor to pass as ``after`` to continue after ``example``."""
    column = sort.lstrip("-")
    if column == "id":
        return example.id
    return (getattr(example, column), example.id)


def page_examples(
    session: Session,
    f: ExampleFilter | None = None,
    *,
    after: Any = None,
    limit: int = 200,
    sort: str = "id",
) -> list[Example]:
    """One page of examples after the cursor ``after`` (see ``cursor_of``), ordered by ``sort``.

    Sorting by quality or time breaks ties by id (rows without a quality score are left out).
    """
    column, descending = _sort_key(sort)
    statement = select(Example)
    conds = (f or ExampleFilter()).conditions(unindexed=column is not Example.id)
    if column is Example.id:
        order = [Example.id.desc() if descending else Example.id.asc()]
        if after is not None:
            conds.append(Example.id < after if descending else Example.id > after)
    else:
        value_expr = column  # plain column so SQLite walks its index instead of sorting
        conds.append(column.is_not(None))
        order = [value_expr.desc(), Example.id.desc()] if descending else [value_expr.asc(), Example.id.asc()]
        if after is not None:
            value, last_id = after
            if descending:
                conds.append(or_(value_expr < value, and_(value_expr == value, Example.id < last_id)))
            else:
                conds.append(or_(value_expr > value, and_(value_expr == value, Example.id > last_id)))
    if conds:
        statement = statement.where(and_(*conds))
    statement = statement.order_by(*order).limit(max(1, min(limit, 10_000)))
    return list(session.exec(statement).all())


@dataclass
class Page:
    """A page plus the cursor for the next one (None at the end)."""

    rows: list[Example] = field(default_factory=list)
    next_after: Any = None


def page(session: Session, f: ExampleFilter | None = None, *, after: Any = None, limit: int = 200,
         sort: str = "id") -> Page:
    """``page_examples`` with the next cursor computed."""
    rows = page_examples(session, f, after=after, limit=limit, sort=sort)
    next_after = cursor_of(rows[-1], sort) if len(rows) == limit and rows else None
    return Page(rows, next_after)
