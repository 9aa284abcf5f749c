"""Auto-rules: deterministic approve/reject decisions from confidence, quality and task type.

``decide`` is pure (no I/O, no clock, no randomness) so the dry-run simulation replays
exactly what ``apply_rules`` would do. Human decisions win: ``apply_rules`` only moves
pending examples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from lightdom_tui.curation import rawdb
from lightdom_tui.workspace import Workspace


class Decidable(Protocol):
    """What ``decide`` reads from an example (an ``Example`` or any look-alike)."""

    status: str
    task_type: str
    confidence: float | None
    quality_score: float | None


@dataclass
class AutoRules:
    """Thresholds for automatic decisions; ``None`` means the criterion is not used."""

    min_confidence: float | None = None
    min_quality: float | None = None
    exclude_rejected: bool = True
    task_types: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (recorded with rule batches and dataset versions)."""
        return asdict(self)

    @property
    def active(self) -> bool:
        """True when at least one threshold can decide something."""
        return self.min_confidence is not None or self.min_quality is not None


def decide(example: Decidable, rules: AutoRules) -> str:
    """"approved", "rejected" or "pending" for one example under ``rules``.

    - an already rejected example stays rejected when ``exclude_rejected``;
    - examples outside ``task_types`` (when given) stay pending;
    - a threshold with no value to compare (confidence/quality unknown) leaves it pending;
    - below any threshold → rejected; all thresholds met → approved; no thresholds → pending.
    """
    if rules.exclude_rejected and example.status == "rejected":
        return "rejected"
    if rules.task_types and example.task_type not in rules.task_types:
        return "pending"
    if not rules.active:
        return "pending"
    for threshold, value in ((rules.min_confidence, example.confidence), (rules.min_quality, example.quality_score)):
        if threshold is None:
            continue
        if value is None:
            return "pending"
        if value < threshold:
            return "rejected"
    return "approved"


def reason_for(example: Decidable, rules: AutoRules) -> str:
    """The rule that rejected an example (for the reject reason)."""
    if rules.min_confidence is not None and example.confidence is not None and example.confidence < rules.min_confidence:
        return f"rule: confidence {example.confidence:.2f} < {rules.min_confidence}"
    if rules.min_quality is not None and example.quality_score is not None and example.quality_score < rules.min_quality:
        return f"rule: quality {example.quality_score:.2f} < {rules.min_quality}"
    return "rule"


@dataclass
class _Row:
    id: int
    status: str
    task_type: str
    confidence: float | None
    quality_score: float | None


@dataclass
class RulesResult:
    """What ``apply_rules`` did (or would do with ``dry_run``)."""

    examined: int = 0
    approved: int = 0
    rejected: int = 0
    unchanged: int = 0
    batch_id: str | None = None
    dry_run: bool = False
    rules: dict[str, Any] = field(default_factory=dict)


def apply_rules(ws: Workspace, rules: AutoRules, *, dry_run: bool = False, chunk: int = 50_000) -> RulesResult:
    """Apply ``decide`` to every pending example; one undoable event batch for the changes."""
    import uuid

    result = RulesResult(dry_run=dry_run, rules=rules.to_dict())
    batch_id = uuid.uuid4().hex
    conn = rawdb.connect(ws)
    try:
        with rawdb.immediate(conn, commit=not dry_run):  # a dry run reads the same, writes nothing
            last = 0
            now = rawdb.db_now()
            while True:
                rows = [_Row(*r) for r in conn.execute(
                    "SELECT id, status, task_type, confidence, quality_score FROM example "
                    "WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", (last, chunk))]
                if not rows:
                    break
                last = rows[-1].id
                events, updates = [], []
                for row in rows:
                    result.examined += 1
                    verdict = decide(row, rules)
                    if verdict == row.status:
                        result.unchanged += 1
                        continue
                    reason = reason_for(row, rules) if verdict == "rejected" else None
                    if verdict == "approved":
                        result.approved += 1
                    else:
                        result.rejected += 1
                    events.append((now, batch_id, row.id, "rule", row.status, verdict, reason))
                    updates.append((verdict, reason, now, row.id))
                if not dry_run and updates:
                    conn.executemany(
                        "INSERT INTO curationevent (created_at, batch_id, example_id, action, from_status, to_status,"
                        " reason, undone) VALUES (?, ?, ?, ?, ?, ?, ?, 0)", events)
                    conn.executemany("UPDATE example SET status = ?, reject_reason = ?, updated_at = ? WHERE id = ?",
                                     updates)
    finally:
        conn.close()
    if not dry_run and (result.approved or result.rejected):
        result.batch_id = batch_id
    return result
