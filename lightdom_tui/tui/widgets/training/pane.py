"""Training runs pane (being built)."""

from __future__ import annotations

from textual.app import ComposeResult

from lightdom_tui.tui.widgets.pane import NeedsNotice, Pane


class TrainingPane(Pane):
    """Runs with status, start/cancel/resume, live progress and loss plot, log tail."""

    REQUIRES = ("training.trainer", "training.runs")

    def compose(self) -> ComposeResult:
        yield NeedsNotice(self.missing_services(), "Training runs")
