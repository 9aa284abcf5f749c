"""Settings screen: every key of lightdom.toml as an input; saved through the settings use case."""

from __future__ import annotations

import json
from dataclasses import fields

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from lightdom_tui.errors import LightdomError
from lightdom_tui.safetext import markup_safe
from lightdom_tui.settings import Settings
from lightdom_tui.usecases.workspace import save_setting_edits


def as_text(value: object) -> str:
    """A setting's value as typed into the input (TOML literal syntax; bare words are strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def setting_rows(settings: Settings) -> list[tuple[str, str]]:
    """(dotted key, value as TOML text) for every setting, in file order."""
    rows = []
    for section in fields(settings):
        value = getattr(settings, section.name)
        if isinstance(value, dict):  # the keymap is edited in the file ([keymap] "binding.id" = "key")
            continue
        for item in fields(value):
            rows.append((f"{section.name}.{item.name}", as_text(getattr(value, item.name))))
    return rows


class SettingsScreen(ModalScreen[Settings | None]):
    """Edit the workspace settings; ctrl+s saves to lightdom.toml, escape discards."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings.save"),
        Binding("escape", "cancel", "Discard", id="settings.cancel"),
    ]

    def __init__(self, settings: Settings, root) -> None:  # noqa: ANN001 - Path
        super().__init__(classes="dialog-screen")
        self._settings = settings
        self._root = root
        self._original = dict(setting_rows(settings))

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog settings-dialog") as box:
            box.border_title = "Settings (ctrl+s save · escape discard)"
            for key, value in self._original.items():
                with Horizontal(classes="setting-row"):
                    yield Label(key, classes="setting-key")
                    yield Input(value, id="set-" + key.replace(".", "--"), classes="setting-input")
            yield Static("", id="settings-status")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def edits(self) -> dict[str, str]:
        """Only the values the user changed."""
        changed = {}
        for field_input in self.query(".setting-input").results(Input):
            key = (field_input.id or "")[4:].replace("--", ".")
            if field_input.value != self._original.get(key):
                changed[key] = field_input.value
        return changed

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        """Validate and write lightdom.toml; errors name the key."""
        try:
            # A bad value or a read-only workspace is one line; the screen stays open with the edits.
            settings = save_setting_edits(self._root, self._settings, self.edits())
        except LightdomError as exc:
            self.query_one("#settings-status", Static).update(f"[red]{markup_safe(exc)}[/red]")
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
