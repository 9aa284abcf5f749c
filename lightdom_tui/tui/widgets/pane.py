"""What every pane shares: the workspace, worker error reporting, notices and the refresh bus."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.worker import Worker, WorkerState

from lightdom_tui.safetext import one_line, strip_controls
from lightdom_tui.tui.messages import Notice
from lightdom_tui.workspace import Workspace

ERROR_TOAST_S = 10  # seconds a user error stays on screen


class WorkerErrors:
    """Mixin: the one Worker.StateChanged handler that turns worker errors into an error modal.

    Worker state messages do not bubble, so every widget that starts workers mixes this in.
    """

    # A named handler, not @on: Textual only collects @on handlers from Widget subclasses' own bodies.
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed worker's error (worker state messages do not bubble)."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        from lightdom_tui.errors import LightdomError

        if isinstance(error, LightdomError):
            # The user's to fix and already one clear line: a toast that takes no key away
            # (a modal here ate the next key the user typed, and the class name was noise).
            self.app.notify(one_line(str(error)), title=str(event.worker.name), severity="error",  # type: ignore[attr-defined]
                            timeout=ERROR_TOAST_S, markup=False)  # errors quote data: '[/]' is text, not markup
            return
        self.app.show_error(  # type: ignore[attr-defined]
            f"{event.worker.name} failed", f"{type(error).__name__}: {error}"
        )


class Pane(WorkerErrors, Vertical):
    """Base of the four panes.

    A pane's widgets are built the first time it is shown (``LAZY``), so startup
    styles and lays out only the pane on screen.
    """

    LAZY = True

    def __init__(self, workspace: Workspace, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.workspace = workspace
        self.built = not self.LAZY

    def compose(self) -> ComposeResult:
        if self.built:
            yield from self.compose_pane()

    def compose_pane(self) -> ComposeResult:
        """The pane's widgets (built the first time the pane is shown)."""
        return iter(())

    def on_mount(self) -> None:
        if self.built:
            self.on_built()

    def on_built(self) -> None:
        """The pane's widgets exist: set up tables, start loading."""

    async def activate(self) -> None:
        """Called when the pane is shown: build it the first time, then refresh and focus it."""
        if not self.built:
            self.built = True
            await self.recompose()
            self.on_built()
        self.on_shown()
        self.focus_main()

    def on_notice(self, message: Notice) -> None:
        """Show a worker's one-line notice."""
        message.stop()
        # notices name data (files, versions, topics): shown as text, never read as markup
        self.notify(strip_controls(message.text), severity=message.severity, markup=False)  # type: ignore[arg-type]

    def data_changed(self, area: str) -> None:
        """The refresh bus (the app calls this on every built pane after any write): re-read what is shown."""
        self.refresh_data()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) the command palette offers while this pane is shown."""
        return []

    def focus_main(self) -> None:
        """Focus the pane's main widget (after a number key)."""
        if not self.built:
            return
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return

    def on_shown(self) -> None:
        """The pane became visible; panes load lazily here."""

    def refresh_data(self) -> None:
        """Reload what the pane shows (after actions elsewhere); panes override."""
