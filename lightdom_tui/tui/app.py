"""LightDom's Textual app: four panes over the whole loop.

The app coordinates: it owns the pane switcher, the status bar, the global
bindings and the modal screens. Each pane is its own module under ``widgets/``
and calls use cases in thread workers; nothing here touches the database.
"""

from __future__ import annotations

import gc
from datetime import datetime, timezone

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Header, TabbedContent, TabPane

from lightdom_tui.errors import LightdomError
from lightdom_tui.safetext import one_line
from lightdom_tui.tui.commands import LightdomCommands
from lightdom_tui.tui.doctor_actions import DoctorActions
from lightdom_tui.tui.gateway_actions import GatewayActions
from lightdom_tui.tui.messages import DataChanged
from lightdom_tui.tui.panes import PANES
from lightdom_tui.tui.screens.api_key import ApiKeyScreen
from lightdom_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen, PromptScreen
from lightdom_tui.tui.screens.help import HelpScreen
from lightdom_tui.tui.screens.settings import SettingsScreen
from lightdom_tui.tui.widgets.key_footer import KeyFooter
from lightdom_tui.tui.widgets.pane import Pane, WorkerErrors
from lightdom_tui.tui.watch_actions import WatchActions
from lightdom_tui.tui.widgets.status_bar import StatusBar
from lightdom_tui.workspace import Workspace

DARK, LIGHT = "textual-dark", "textual-light"
GC_THRESHOLD_YOUNG = 20_000  # allocations between young collections (CPython default: 700)


def calm_garbage_collector() -> None:
    """Stop full collections from stalling keypresses once the app is up.

    A full (gen 2) collection walks every object the app holds: Textual's widget tree,
    SQLAlchemy's mappers, torch if a worker imported it. Measured on 200k examples, those
    pauses were the whole p95 of page-down (210 ms with them, 69 ms after this). Freezing what
    startup built moves it out of the collector's reach; a higher young-generation
    threshold makes collections rarer. Cycles made later are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_YOUNG, 50, 100)


class LightdomApp(WorkerErrors, GatewayActions, WatchActions, DoctorActions, App[None]):
    """The whole loop in one keyboard-driven window.

    ``WorkerErrors``: the app's own workers (the gateway, the inbox watcher) report failures as the panes'
    do; without it a port in use left "starting the gateway…" as the last word.
    """

    CSS_PATH = "app.tcss"
    TITLE = "LightDom"
    COMMANDS = App.COMMANDS | {LightdomCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        *[
            Binding(str(number), f"show_pane('{pane.pane_id}')", pane.title, id=f"app.pane.{pane.pane_id}",
                    show=False)
            for number, pane in enumerate(PANES, start=1)
        ],
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("f2", "settings", "Settings", id="app.settings"),
        Binding("f3", "api_key", "API key", id="app.api_key"),
        Binding("ctrl+t", "toggle_dark_theme", "Theme", id="app.theme", show=False),
        Binding("ctrl+g", "serve", "Start / stop the gateway", id="app.serve", show=False),
        Binding("ctrl+w", "watch", "Watch the inbox on / off", id="app.watch", show=False),
        Binding("f4", "doctor", "Doctor", id="app.doctor", show=False),
        Binding("ctrl+p", "command_palette", "Commands", id="app.palette", show=False),
    ]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.sub_title = str(workspace.root)
        self.started_at = datetime.now(timezone.utc)  # undo asks before reaching into an earlier session
        self.keymap_overrides: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes"):
            for number, pane in enumerate(PANES, start=1):
                with TabPane(f"{number} {pane.title}", id=pane.pane_id):
                    yield pane.widget(self.workspace)
        yield StatusBar(self.workspace)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.apply_keymap(self.workspace.settings.keymap)
        theme = self.workspace.settings.tui.theme
        self.theme = theme if theme in self.available_themes else DARK
        pane = self.active_pane()
        if pane is not None:
            pane.focus_main()
        self.call_after_refresh(calm_garbage_collector)

    def apply_keymap(self, keymap: dict[str, str]) -> None:
        """Rebind keys by binding id (``[keymap]`` in lightdom.toml); an id no binding has is named once."""
        from lightdom_tui.tui.panes import binding_ids

        known = binding_ids(type(self))
        unknown = sorted(set(keymap) - known)
        usable = {binding_id: keys for binding_id, keys in keymap.items() if binding_id in known}
        self.keymap_overrides = usable
        self.set_keymap(usable)
        if unknown:
            self.notify(f"[keymap] in lightdom.toml: no binding has the id {', '.join(map(repr, unknown))} "
                        "(F1 lists the ids)", severity="warning", timeout=10, markup=False)

    # ----------------------------------------------------------------- panes

    def pane_titles(self) -> list[tuple[str, str]]:
        """(pane id, title) in switcher order."""
        return [(pane.pane_id, pane.title) for pane in PANES]

    def active_pane(self) -> Pane | None:
        """The pane widget currently shown."""
        try:
            tabs = self.query_one("#panes", TabbedContent)
        except Exception:  # before compose / on a modal
            return None
        panes = tabs.query(f"#{tabs.active} Pane").results(Pane)
        return next(iter(panes), None)

    def action_show_pane(self, pane_id: str) -> None:
        """Jump to a pane by its id (number keys); a pane is built the first time it is shown."""
        tabs = self.query_one("#panes", TabbedContent)
        if tabs.active == pane_id:
            pane = self.active_pane()
            if pane is not None:
                pane.focus_main()
            return
        tabs.active = pane_id

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self) -> None:
        pane = self.active_pane()
        if pane is not None:
            await pane.activate()

    @on(DataChanged)
    def _data_changed(self, message: DataChanged) -> None:
        """The refresh bus: every pane built so far, and the status bar, re-read what they show."""
        for pane in self.query(Pane):
            if pane.built:
                pane.data_changed(message.area)
        self.query_one(StatusBar).reload()

    # ----------------------------------------------------------------- screens

    def action_help(self) -> None:
        """Show what each key does, the pane on screen first."""
        from lightdom_tui.tui.panes import help_sections

        pane = self.active_pane()
        pane_id = next((spec.pane_id for spec in PANES if pane is not None and pane.id == f"pane-{spec.pane_id}"), None)
        self.push_screen(HelpScreen(help_sections(type(self), pane_id), self.keymap_overrides))

    def action_settings(self) -> None:
        """Edit lightdom.toml."""

        def saved(settings) -> None:  # noqa: ANN001
            if settings is None:
                return
            self.workspace.settings = settings
            if settings.tui.theme in self.available_themes:
                self.theme = settings.tui.theme
            self.notify("settings saved to lightdom.toml")
            self.query_one(StatusBar).reload()

        self.push_screen(SettingsScreen(self.workspace.settings, self.workspace.root), saved)

    def action_api_key(self) -> None:
        """Store the remote API key in the keyring."""
        self.push_screen(ApiKeyScreen(self.workspace.settings.serving.remote_provider, self.workspace.root))

    def action_toggle_dark_theme(self) -> None:
        """Switch light/dark and remember it in settings.tui.theme."""
        self.theme = LIGHT if self.theme == DARK else DARK
        self.workspace.settings.tui.theme = self.theme
        try:
            self.workspace.save_settings()
        except LightdomError as exc:  # a read-only workspace: the theme still changes, for this session
            self.notify(f"theme not remembered: {one_line(str(exc))}", severity="warning", markup=False)

    def show_error(self, title: str, message: str) -> None:
        """Modal error (the one sink for worker failures)."""
        self.push_screen(ErrorScreen(title, message))

    def confirm(self, question: str, callback) -> None:  # noqa: ANN001
        """Ask yes/no; ``callback(True)`` on yes."""
        self.push_screen(ConfirmScreen(question), lambda ok: callback() if ok else None)

    def prompt(self, question: str, callback, *, title: str = "Input", value: str = "") -> None:  # noqa: ANN001
        """Ask for a line of text; ``callback(text)`` unless cancelled."""
        self.push_screen(
            PromptScreen(question, title=title, value=value), lambda text: callback(text) if text is not None else None
        )


def create_app(workspace: Workspace) -> LightdomApp:
    """App factory shared by the CLI, the tests and the benchmark."""
    return LightdomApp(workspace)


def run_app(workspace: Workspace) -> None:
    """Run the app until the user quits."""
    app = create_app(workspace)
    try:
        app.run()
    finally:
        app.stop_gateway_now()  # a gateway started here stops with the window
        app.stop_watch_now()  # so does the inbox watcher
        workspace.close()
