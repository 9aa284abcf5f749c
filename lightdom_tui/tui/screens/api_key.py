"""Key entry dialog: the API key is typed into a password Input and stored in the keyring.

The key never appears on screen, in a notification or in a log: only the provider
name and "stored" are reported. The keyring call runs in a thread worker with a
timeout because a locked desktop keyring can block forever.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


KEYRING_TIMEOUT_S = 5.0


def store_key(provider: str, key: str, timeout_s: float = KEYRING_TIMEOUT_S) -> None:
    """Store ``key`` for ``provider`` in the keyring (the use case gives up after ``timeout_s``)."""
    from lightdom_tui.usecases.status import store_api_key

    store_api_key(provider, key, timeout_s)


class ApiKeyScreen(ModalScreen[bool]):
    """Ask for the remote API key of the configured provider and store it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, provider: str) -> None:
        super().__init__(classes="dialog-screen")
        self.provider = provider

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "API key"
            yield Label(f"API key for [b]{self.provider}[/b] (stored in the system keyring, never shown)")
            yield Input(password=True, placeholder="paste the key, then enter", id="api-key-input")
            yield Static("", id="api-key-status")

    @on(Input.Submitted, "#api-key-input")
    def _submitted(self, event: Input.Submitted) -> None:
        key = event.value.strip()
        event.input.value = ""  # do not keep the secret in the widget longer than needed
        if not key:
            self.query_one("#api-key-status", Static).update("[red]empty key: nothing stored[/red]")
            return
        self.query_one("#api-key-status", Static).update("storing…")
        self._store(key)

    @work(thread=True, exclusive=True, group="api-key", exit_on_error=False)
    def _store(self, key: str) -> None:
        try:
            store_key(self.provider, key)
        except Exception as exc:  # message only, never the key
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._stored)

    def _stored(self) -> None:
        self.app.notify(f"API key for {self.provider} stored in the keyring")
        self.dismiss(True)

    def _failed(self, reason: str) -> None:
        self.query_one("#api-key-status", Static).update(f"[red]not stored: {reason}[/red]")

    def action_cancel(self) -> None:
        """Close without storing anything."""
        self.dismiss(False)
