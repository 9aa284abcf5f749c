"""Key entry dialog: the API key is typed into a password Input and stored in the keyring.

The key never appears on screen, in a notification or in a log: only the provider
name and "stored" are reported. The keyring call runs in a thread worker with a
timeout because a locked desktop keyring can block forever. The dialog also says
whether a key is set and where from, masked (`lightdom keys show`), and ctrl+d removes
the stored one (`lightdom keys delete`).
"""

from __future__ import annotations

from pathlib import Path

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

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+d", "delete", "Delete the stored key", id="api_key.delete", priority=True),  # over the Input's
    ]

    def __init__(self, provider: str, home: Path | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.provider = provider
        self.home = home  # the workspace whose settings name the key's variable

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "API key"
            yield Label(f"API key for [b]{self.provider}[/b] (stored in the system keyring, never shown)")
            yield Static("current: checking…", id="api-key-current", markup=False)
            yield Input(password=True, placeholder="paste the key, then enter", id="api-key-input")
            yield Static("", id="api-key-status")
            yield Static("[dim]enter stores · ctrl+d deletes the stored key · escape closes[/dim]")

    def on_mount(self) -> None:
        self._show()

    @work(thread=True, exclusive=True, group="api-key-show", exit_on_error=False)
    def _show(self) -> None:
        """Whether a key is set and where from, masked, as `lightdom keys show` finds it."""
        from lightdom_tui.usecases.serving import show_remote_key

        info = show_remote_key(self.home, self.provider)
        text = f"current: {info.key} ({info.source})" if info.set else "current: not set"
        self.app.call_from_thread(self._current, text + (f"; {info.problem}" if info.problem else ""))

    def _current(self, text: str) -> None:
        if self.is_attached:
            self.query_one("#api-key-current", Static).update(text)

    def action_delete(self) -> None:
        """Remove the stored key from the keyring (an environment variable stays the user's)."""
        self._delete()

    @work(thread=True, exclusive=True, group="api-key", exit_on_error=False)
    def _delete(self) -> None:
        from lightdom_tui.usecases.serving import delete_remote_key

        try:
            deleted = delete_remote_key(self.provider).deleted
        except Exception as exc:  # the keyring's message, never a key
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}", "not deleted")
            return
        text = "deleted from the keyring" if deleted else "no key was stored in the keyring"
        self.app.call_from_thread(self.query_one("#api-key-status", Static).update, text)
        self._show()

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

    def _failed(self, reason: str, what: str = "not stored") -> None:
        from rich.markup import escape

        self.query_one("#api-key-status", Static).update(f"[red]{what}: {escape(reason)}[/red]")

    def action_cancel(self) -> None:
        """Close without storing anything."""
        self.dismiss(False)
