"""Campaign tree pane (being built)."""

from __future__ import annotations

from textual.app import ComposeResult

from lightdom_tui.tui.widgets.pane import NeedsNotice, Pane


class CampaignPane(Pane):
    """Campaign → workflow → service → data stream → attribute; suggestions to accept."""

    REQUIRES = ("orchestration.campaigns", "orchestration.suggest")

    def compose(self) -> ComposeResult:
        yield NeedsNotice(self.missing_services(), "Campaign tree")
