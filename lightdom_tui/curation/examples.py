"""Single-example services: add (dedup-aware), read, and summary statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from lightdom_tui.curation.formats import RecordError
from lightdom_tui.curation.normalise import canonical_messages, content_hash, near_hash, near_text, serialise
from lightdom_tui.curation.quality import estimate_tokens, quality_score
from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import EXAMPLE_STATUS_VALUES, Example, Quarantine
from lightdom_tui.errors import LightdomError

DEFAULT_CONTEXT_TOKENS = 2048


def add_example(
    session: Session,
    messages: list[dict[str, Any]],
    *,
    task_type: str,
    source: str,
    status: str = "pending",
    metadata: dict[str, Any] | None = None,
    parent_id: int | None = None,
    confidence: float | None = None,
    reject_reason: str | None = None,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> Example:
    """Validate, normalise, score and insert one example; an exact duplicate returns the existing row.

    Raises LightdomError naming the field when the messages are not a valid conversation.
    """
    if status not in EXAMPLE_STATUS_VALUES:
        raise LightdomError(f"status: {status!r} is not one of {', '.join(EXAMPLE_STATUS_VALUES)}")
    try:
        canonical = canonical_messages(list(messages))
        text = serialise(canonical)
        key = content_hash(text)
    except RecordError as exc:
        raise LightdomError(f"example: {exc}") from None
    existing = session.exec(select(Example).where(Example.content_hash == key)).first()
    if existing is not None:
        return existing
    near_key = near_hash(near_text(canonical))
    near_of = session.exec(select(func.min(Example.id)).where(Example.near_hash == near_key)).first()
    tokens = estimate_tokens(canonical)
    example = Example(
        source=source,
        task_type=task_type,
        status=status,
        messages_json=text,
        content_hash=key,
        near_hash=near_key,
        near_duplicate_of=near_of,
        parent_id=parent_id,
        quality_score=quality_score(canonical, tokens, context_tokens),
        confidence=confidence,
        token_count=tokens,
        reject_reason=reject_reason,
        metadata_json=dumps(metadata or {}),
    )
    session.add(example)
    session.flush()
    return example


def example_messages(example: Example) -> list[dict[str, Any]]:
    """The canonical messages of an example."""
    return loads(example.messages_json, [])


def example_metadata(example: Example) -> dict[str, Any]:
    """The metadata dict of an example."""
    return loads(example.metadata_json, {})


def get_example(session: Session, example_id: int) -> Example:
    """One example by id (LightdomError when missing)."""
    example = session.get(Example, example_id)
    if example is None:
        raise LightdomError(f"example {example_id}: not found")
    return example


@dataclass
class ExampleStats:
    """Counts for the curation overview."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_task_type: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    near_duplicates: int = 0
    corrections: int = 0
    quarantined: int = 0
    mean_quality: float | None = None


def example_stats(session: Session) -> ExampleStats:
    """Totals by status, task type and source, plus duplicates, corrections and quarantine size."""
    stats = ExampleStats()
    for column, target in ((Example.status, stats.by_status), (Example.task_type, stats.by_task_type),
                           (Example.source, stats.by_source)):
        for value, count in session.exec(select(column, func.count()).group_by(column)):
            target[value] = count
    stats.total = sum(stats.by_status.values())
    stats.near_duplicates = session.exec(
        select(func.count()).select_from(Example).where(Example.near_duplicate_of.is_not(None))).one()
    stats.corrections = session.exec(
        select(func.count()).select_from(Example).where(Example.parent_id.is_not(None))).one()
    stats.quarantined = session.exec(select(func.count()).select_from(Quarantine)).one()
    mean = session.exec(select(func.avg(Example.quality_score))).one()
    stats.mean_quality = round(float(mean), 3) if mean is not None else None
    return stats
