"""LightDom's Textual app: four panes over the whole loop."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, TabbedContent, TabPane

from lightdom_tui.tui.panes import PANES
from lightdom_tui.workspace import Workspace


class LightdomApp(App[None]):
    """The whole loop in one keyboard-driven window."""

    CSS_PATH = "app.tcss"
    TITLE = "LightDom"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        *[
            Binding(str(number), f"show_pane('{pane.pane_id}')", pane.title, id=f"pane-{pane.pane_id}")
            for number, pane in enumerate(PANES, start=1)
        ],
    ]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.sub_title = str(workspace.root)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes"):
            for number, pane in enumerate(PANES, start=1):
                with TabPane(f"{number} {pane.title}", id=pane.pane_id):
                    yield pane.widget(self.workspace)
        yield Footer()

    def on_mount(self) -> None:
        self.theme = self.workspace.settings.tui.theme

    def action_show_pane(self, pane_id: str) -> None:
        """Jump to a pane by its id (number keys)."""
        self.query_one("#panes", TabbedContent).active = pane_id


def create_app(workspace: Workspace) -> LightdomApp:
    """App factory shared by the CLI and the tests."""
    return LightdomApp(workspace)


def run_app(workspace: Workspace) -> None:
    """Run the app until the user quits."""
    try:
        create_app(workspace).run()
    finally:
        workspace.close()
