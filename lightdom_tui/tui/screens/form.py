"""A small form: labelled inputs, returned as a dict of text (services validate and name bad fields)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


@dataclass(frozen=True)
class FormField:
    """One input of a form."""

    key: str
    label: str
    value: str = ""
    placeholder: str = ""


class FormScreen(ModalScreen[dict[str, str] | None]):
    """Fill in the fields; enter on the last field or ctrl+s submits, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(self, title: str, fields: list[FormField], *, note: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._fields = fields
        self._note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form-dialog") as box:
            box.border_title = f"{self._title} (ctrl+s submit · escape cancel)"
            if self._note:
                yield Static(self._note, classes="dialog-text")
            for item in self._fields:
                with Horizontal(classes="form-row"):
                    yield Label(item.label, classes="form-label")
                    yield Input(item.value, placeholder=item.placeholder, id=f"form-{item.key}", classes="form-input")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def values(self) -> dict[str, str]:
        """The text of every field."""
        return {item.key: self.query_one(f"#form-{item.key}", Input).value for item in self._fields}

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == f"form-{self._fields[-1].key}":
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        """Return the values."""
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)
