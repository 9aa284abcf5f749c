"""Model registry pane (being built)."""

from __future__ import annotations

from textual.app import ComposeResult

from lightdom_tui.tui.widgets.pane import NeedsNotice, Pane


class RegistryPane(Pane):
    """Versions, aliases, lineage; export, evaluate, compare, A/B, deploy, rollback."""

    REQUIRES = ("registry.aliases", "registry.deploy", "modelio.pipeline")

    def compose(self) -> ComposeResult:
        yield NeedsNotice(self.missing_services(), "Model registry")
