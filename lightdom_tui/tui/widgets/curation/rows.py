"""How one example row looks in the table (pure formatting, no queries)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from lightdom_tui.safetext import one_line, strip_controls

STATUS_STYLE = {"pending": "yellow", "approved": "green", "rejected": "red"}

COLUMNS: tuple[tuple[str, int], ...] = (
    ("id", 7),
    ("status", 8),
    ("task type", 16),
    ("source", 10),
    ("qual", 4),
    ("tok", 5),
)
MIN_MESSAGE = 14  # the first user message is what a reviewer reads: keep at least this much of it (as at 120 columns)
DROP_ORDER = ("tok", "qual", "source")  # dropped in this order when the table is narrow


def columns_for(width: int) -> tuple[tuple[str, int], ...]:
    """The columns that leave the message ``MIN_MESSAGE`` cells in a table ``width`` wide (80×24 keeps it)."""
    columns = list(COLUMNS)
    for name in DROP_ORDER:
        if sum(w + 1 for _, w in columns) + MIN_MESSAGE <= width:
            break
        columns = [column for column in columns if column[0] != name]
    if sum(w + 1 for _, w in columns) + MIN_MESSAGE > width:  # still narrow: a shorter task type
        columns = [(name, 12 if name == "task type" else w) for name, w in columns]
    return tuple(columns)


@dataclass
class RowView:
    """The displayed fields of one example (kept small: a page holds hundreds)."""

    id: int
    status: str
    task_type: str
    source: str
    quality: float | None
    tokens: int | None
    example: Any  # the service's row, for the detail view and actions
    _preview: str | None = None

    @property
    def preview(self) -> str:
        """The first user message on one line, parsed when the row is first painted.

        A page of 200 rows is built in a worker thread that shares the GIL with the UI;
        parsing every row's messages there stalled keypresses, and only ~30 rows show.
        """
        if self._preview is None:
            self._preview = preview_of(self.example.messages_json)
        return self._preview


def preview_of(messages_json: str, width: int = 120) -> str:
    """First user message (else the first message) on one line."""
    try:
        messages = json.loads(messages_json)
    except (TypeError, ValueError):
        return "(unreadable messages)"
    if not isinstance(messages, list) or not messages:
        return ""
    first = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), messages[0])
    content = first.get("content") if isinstance(first, dict) else first
    if not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    return one_line(content)[:width]  # data: escape sequences would reach the terminal raw


def row_view(example: Any) -> RowView:
    """Build the displayed row from a service row (an Example)."""
    return RowView(
        id=example.id,
        status=example.status,
        task_type=strip_controls(example.task_type),
        source=strip_controls(example.source),
        quality=example.quality_score,
        tokens=example.token_count,
        example=example,
    )


def header_text(columns: tuple[tuple[str, int], ...] = COLUMNS) -> Text:
    """The column header line."""
    text = Text(style="bold")
    for name, width in columns:
        text.append(name.ljust(width)[:width] + " ")
    text.append("first user message")
    return text


def row_cells(row: RowView, columns: tuple[tuple[str, int], ...] = COLUMNS) -> list[tuple[str, str]]:
    """(text padded to its column, style name) per cell; the preview last, unpadded (fast path for render_line)."""
    quality = f"{row.quality:.2f}" if row.quality is not None else "–"
    tokens = str(row.tokens) if row.tokens is not None else "–"
    values = {"id": str(row.id), "status": row.status, "task type": row.task_type, "source": row.source,
              "qual": quality, "tok": tokens}
    cells = [(values[name].ljust(width)[:width] + " ", STATUS_STYLE.get(row.status, "") if name == "status" else "")
             for name, width in columns]
    cells.append((row.preview, ""))
    return cells
