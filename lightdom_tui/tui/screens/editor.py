"""Edit a conversation's JSON in a TextArea, or in $EDITOR (ctrl+e) with the app suspended."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea


def pretty(messages_json: str) -> str:
    """Indented JSON for editing (unchanged text when it does not parse)."""
    try:
        return json.dumps(json.loads(messages_json), indent=2, ensure_ascii=False)
    except ValueError:
        return messages_json


class EditorScreen(ModalScreen[str | None]):
    """The messages as JSON; ctrl+s saves (the service validates), escape discards."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save"),
        Binding("ctrl+e", "external", "$EDITOR", id="editor.external"),
        Binding("escape", "cancel", "Discard", id="editor.cancel"),
    ]

    def __init__(self, messages_json: str, *, title: str = "edit") -> None:
        super().__init__(classes="dialog-screen")
        self._text = pretty(messages_json)
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog editor-dialog") as box:
            box.border_title = f"{self._title} (ctrl+s save · ctrl+e $EDITOR · escape discard)"
            # tab moves focus: with tab indenting, the TextArea keeps escape for itself
            # and escape could not discard (as the title promises).
            yield TextArea.code_editor(self._text, language="json", id="editor-text", tab_behavior="focus")
            yield Static("", id="editor-status")

    def action_save(self) -> None:
        """Return the edited text if it is JSON; otherwise say where it breaks."""
        text = self.query_one("#editor-text", TextArea).text
        try:
            json.loads(text)
        except ValueError as exc:
            self.query_one("#editor-status", Static).update(f"[red]not valid JSON: {exc}[/red]")
            return
        self.dismiss(text)

    def action_external(self) -> None:
        """Open the text in $EDITOR (the app is suspended meanwhile)."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        area = self.query_one("#editor-text", TextArea)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
            handle.write(area.text)
            path = Path(handle.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
            area.load_text(path.read_text(encoding="utf-8"))
        finally:
            path.unlink(missing_ok=True)

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
