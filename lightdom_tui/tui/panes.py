"""The four panes, in order. Each pane is a widget class taking the workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget

from lightdom_tui.tui.widgets.placeholder_pane import PlannedPane
from lightdom_tui.workspace import Workspace


@dataclass(frozen=True)
class PaneSpec:
    """A pane's id, tab title and widget factory."""

    pane_id: str
    title: str
    widget: Callable[[Workspace], Widget]


PANES: tuple[PaneSpec, ...] = (
    PaneSpec(
        "curation",
        "Curation",
        lambda ws: PlannedPane(
            "Curation",
            "Examples table over the database with filters, a conversation view, "
            "single-key approve/reject/edit/undo, bulk actions and the quarantine list.",
        ),
    ),
    PaneSpec(
        "training",
        "Training runs",
        lambda ws: PlannedPane(
            "Training runs",
            "Runs with status, start/cancel/resume, live progress and loss plot, log tail.",
        ),
    ),
    PaneSpec(
        "registry",
        "Model registry",
        lambda ws: PlannedPane(
            "Model registry",
            "Versions, aliases and lineage; export, evaluate, compare, A/B tests, deploy and roll back.",
        ),
    ),
    PaneSpec(
        "campaigns",
        "Campaign tree",
        lambda ws: PlannedPane(
            "Campaign tree",
            "Campaign → workflow → service → data stream → attribute; suggest attributes and accept them.",
        ),
    ),
)
