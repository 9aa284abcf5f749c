"""One-line status bar: workspace, deployed model, engine, GPU (read lazily in a worker)."""

from __future__ import annotations

from textual import work
from textual.widgets import Static

from lightdom_tui.tui.messages import StatusLoaded
from lightdom_tui.usecases.status import StatusInfo
from lightdom_tui.tui.widgets.pane import WorkerErrors
from lightdom_tui.workspace import Workspace


class StatusBar(WorkerErrors, Static):
    """Facts about the workspace; refreshed after actions that change deployments."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__("workspace … · model … · engine … · GPU …", id="status-bar")
        self.workspace = workspace
        self.gateway_url: str | None = None
        self.watching = False
        self._info: StatusInfo | None = None

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read the status in a worker."""
        self._load()

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def _load(self) -> None:
        from lightdom_tui.usecases.status import read_status

        self.post_message(StatusLoaded(read_status(self.workspace)))

    def on_status_loaded(self, message: StatusLoaded) -> None:
        self.show(message.info)

    def show(self, info: StatusInfo) -> None:
        """Render the facts."""
        self._info = info
        # What answers comes first: in a narrow window the path (also in the header) is what gets cut.
        gateway = f"[b]gateway[/b] {self.gateway_url}  " if self.gateway_url else ""
        gateway += "[b]watching inbox[/b]  " if self.watching else ""
        self.update(
            f"[b]model[/b] {info.deployed}  [b]engine[/b] {info.engine}  {gateway}[b]GPU[/b] {info.gpu}  "
            f"[b]workspace[/b] {info.workspace}"
        )

    def set_watching(self, on: bool) -> None:
        """Show (or drop) that this window watches the inbox."""
        self.watching = on
        if self._info is not None:
            self.show(self._info)

    def set_gateway(self, url: str | None) -> None:
        """Show (or drop) the URL of the gateway this window runs."""
        self.gateway_url = url
        if self._info is not None:
            self.show(self._info)
