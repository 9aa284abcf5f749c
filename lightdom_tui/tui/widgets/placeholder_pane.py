"""A pane that says what it will hold, until its real widget lands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class PlannedPane(Vertical):
    """Title and one line describing the pane's job."""

    def __init__(self, title: str, description: str) -> None:
        super().__init__(classes="planned-pane")
        self._title = title
        self._description = description

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{self._title}[/b]", classes="pane-title")
        yield Static(self._description, classes="pane-description")
