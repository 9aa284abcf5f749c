"""The four panes, in order, and the modal screens whose keys the help lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget

from lightdom_tui.tui.screens.api_key import ApiKeyScreen
from lightdom_tui.tui.screens.datasets import DatasetsScreen
from lightdom_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen, PromptScreen, ReportScreen
from lightdom_tui.tui.screens.editor import EditorScreen
from lightdom_tui.tui.screens.form import FormScreen
from lightdom_tui.tui.screens.help import HelpSection
from lightdom_tui.tui.screens.settings import SettingsScreen
from lightdom_tui.tui.widgets.campaign.pane import CampaignPane, SuggestionTable
from lightdom_tui.tui.widgets.curation.pane import CurationPane
from lightdom_tui.tui.widgets.curation.table import ExampleTable
from lightdom_tui.tui.widgets.registry.pane import RegistryPane
from lightdom_tui.tui.widgets.training.pane import TrainingPane
from lightdom_tui.workspace import Workspace


@dataclass(frozen=True)
class PaneSpec:
    """A pane's id, tab title and widget factory."""

    pane_id: str
    title: str
    widget: Callable[[Workspace], Widget]


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("curation", "Curation", lambda ws: CurationPane(ws, id="pane-curation")),
    PaneSpec("training", "Training runs", lambda ws: TrainingPane(ws, id="pane-training")),
    PaneSpec("registry", "Model registry", lambda ws: RegistryPane(ws, id="pane-registry")),
    PaneSpec("campaigns", "Campaign tree", lambda ws: CampaignPane(ws, id="pane-campaigns")),
)

MODAL_SCREENS: tuple[type, ...] = (
    SettingsScreen, ApiKeyScreen, EditorScreen, FormScreen, ConfirmScreen, PromptScreen, ErrorScreen, DatasetsScreen,
    ReportScreen,
)

#: every class that declares bindings, in the order the help screen lists them
#: (classes, not instances: panes are built lazily, and help must list them all the same)
BINDING_CLASSES: tuple[type, ...] = (
    CurationPane, ExampleTable, TrainingPane, RegistryPane, CampaignPane, SuggestionTable, *MODAL_SCREENS,
)

#: the help screen's sections per pane id: (human title, class declaring the keys)
PANE_HELP: dict[str, tuple[HelpSection, ...]] = {
    "curation": (HelpSection("Curation pane", CurationPane), HelpSection("Curation: moving in the table", ExampleTable)),
    "training": (HelpSection("Training runs pane", TrainingPane),),
    "registry": (HelpSection("Model registry pane", RegistryPane),),
    "campaigns": (HelpSection("Campaign tree pane", CampaignPane),
                  HelpSection("Campaign tree: suggestions table", SuggestionTable)),
}

DIALOG_HELP: tuple[HelpSection, ...] = (
    HelpSection("Example editor", EditorScreen), HelpSection("Forms", FormScreen),
    HelpSection("Settings", SettingsScreen), HelpSection("API key", ApiKeyScreen),
    HelpSection("Yes / no questions", ConfirmScreen), HelpSection("Text prompts", PromptScreen),
    HelpSection("Error messages", ErrorScreen), HelpSection("Datasets", DatasetsScreen),
    HelpSection("Reports (doctor)", ReportScreen),
)


def help_sections(app_class: type, active_pane: str | None) -> list[HelpSection]:
    """The pane you are in first, then the keys that work everywhere, the dialogs and the other panes."""
    here = list(PANE_HELP.get(active_pane or "", ()))
    others = [section for pane_id, group in PANE_HELP.items() if pane_id != active_pane for section in group]
    return [*here, HelpSection("Everywhere", app_class), *DIALOG_HELP, *others]


def binding_ids(app_class: type) -> set[str]:
    """Every binding id the app and its panes, widgets and dialogs declare (what ``[keymap]`` may name)."""
    ids: set[str] = set()
    for owner in (app_class, *BINDING_CLASSES):
        for binding in owner.__dict__.get("BINDINGS") or []:
            if getattr(binding, "id", None):
                ids.add(binding.id)
    return ids
