"""Read-only dialogs of the campaign pane: a secret shown once, and a data stream's latest rows."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

ROWS_SHOWN = 200  # the rows table is capped: a data stream may hold millions
CELL_CHARS = 60  # a long value is cut in its cell (the CLI's --json has it whole)


class ShownOnceScreen(ModalScreen[None]):
    """A secret (a webhook token) shown once: only its hash is stored, so it cannot be shown again."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="dialog.close_secret")]

    def __init__(self, title: str, secret: str, note: str) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._secret = secret
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Static(self._secret, id="shown-secret", markup=False)
            yield Static(self._note, classes="dialog-text", markup=False)
            yield Static("[dim]shown once: copy it now · enter / escape to close[/dim]")

    def action_close(self) -> None:
        """Close; the secret is not kept anywhere in the TUI."""
        self.dismiss(None)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


class StreamRowsScreen(ModalScreen[None]):
    """The latest rows of a data stream's destination (as `datastream rows`), capped, with 'showing N of M'."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="rows.close")]

    def __init__(self, title: str, rows: list[dict[str, Any]], total: int) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._rows = rows
        self._total = total

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog datasets-dialog") as box:
            box.border_title = f"{self._title} (escape close)"
            yield DataTable(id="stream-rows", cursor_type="row", zebra_stripes=True)
            yield Static(f"showing {len(self._rows)} of {self._total} row(s)"
                         + (" (the latest)" if len(self._rows) < self._total else ""), id="stream-rows-count")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        columns: list[str] = []
        for row in self._rows:
            columns += [key for key in row if key not in columns]
        table.add_columns(*columns)
        for row in self._rows:
            table.add_row(*(_cell(row.get(key)) for key in columns))
        table.focus()

    def action_close(self) -> None:
        """Close the rows."""
        self.dismiss(None)
