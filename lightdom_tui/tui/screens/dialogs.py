"""Small modal dialogs: confirm, ask for a line of text, show an error."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no question; y confirms, n or escape cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="dialog.yes"),
        Binding("n,escape", "answer(False)", "No", id="dialog.no"),
    ]

    def __init__(self, question: str, title: str = "Confirm") -> None:
        super().__init__(classes="dialog-screen")
        self._question = question
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Static(self._question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        """Close with the answer."""
        self.dismiss(value)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (a reason, a name); None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(
        self, question: str, *, title: str = "Input", value: str = "", password: bool = False,
        placeholder: str = "",
    ) -> None:
        super().__init__(classes="dialog-screen")
        self._question = question
        self._title = title
        self._value = value
        self._password = password
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._question, classes="dialog-text")
            yield Input(
                value=self._value, password=self._password, placeholder=self._placeholder, id="prompt-input"
            )

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """An unexpected error from a worker, shown until a key is pressed.

    Any key closes it; a key other than escape / enter / q then does what it does
    underneath, so the key that the user typed next is not lost.
    """

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="dialog.close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog") as box:
            box.border_title = self._title
            yield Static(self._message, classes="dialog-text", markup=False)
            yield Static("[dim]enter / escape to close[/dim]")

    def action_close(self) -> None:
        """Close the error."""
        self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        """Close on any other key and pass that key on to the screen below."""
        if event.key in ("escape", "enter", "q"):
            return
        event.stop()
        event.prevent_default()
        self.dismiss(None)
        app = self.app
        app.call_after_refresh(app.post_message, events.Key(event.key, event.character))


class ReportScreen(ModalScreen[None]):
    """Read-only text (a report such as `lightdom doctor`'s), shown until enter, escape or q."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="dialog.close_report")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Static(self._text, id="report-text", classes="dialog-text", markup=False)
            yield Static("[dim]enter / escape to close[/dim]")

    def action_close(self) -> None:
        """Close the report."""
        self.dismiss(None)
