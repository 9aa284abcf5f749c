"""Watch the inbox from the TUI (what `lightdom watch` runs): on, files dropped into the inbox are ingested
in a worker and moved to processed/; off, the watcher stops. The status bar says it is on."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.message import Message

from lightdom_tui.tui.messages import DataChanged


class WatchFileHandled(Message):
    """The watcher handled one file (``event`` a ``curation.watch.WatchEvent``)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class WatchChanged(Message):
    """The watcher started (``on``) or ended; ``summary`` holds its totals when it ended."""

    def __init__(self, on: bool, summary: Any = None) -> None:
        super().__init__()
        self.on = on
        self.summary = summary


def file_line(event: Any) -> str:
    """One handled file, as `lightdom watch` prints it."""
    name = str(event.file).rsplit("/", 1)[-1]
    if event.error:
        return f"inbox {name}: {event.error}"
    r = event.report
    return f"inbox {name}: read {r.read}, imported {r.imported}, duplicates {r.duplicates}, quarantined {r.quarantined}"


class WatchActions:
    """Mixin of ``LightdomApp``: the watch toggle and its clean-up."""

    watch_stop: threading.Event | None = None

    def action_watch(self) -> None:
        """Start watching the inbox, or stop the watcher running."""
        if self.watch_stop is not None:
            self.watch_stop.set()
            return
        self.watch_stop = threading.Event()
        self._watch(self.watch_stop)
        self.post_message(WatchChanged(True))  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="watch", name="watch the inbox", exit_on_error=False)
    def _watch(self, stop: threading.Event) -> None:
        from lightdom_tui.usecases.curation import watch_inbox

        summary = None
        try:
            summary = watch_inbox(self.workspace, on_event=lambda e: self.post_message(WatchFileHandled(e)),  # type: ignore[attr-defined]
                                  stop_event=stop)
        finally:  # a watcher that failed has ended too: the status bar and ctrl+w must know (the error is shown apart)
            stop.set()
            self.post_message(WatchChanged(False, summary))  # type: ignore[attr-defined]

    def on_watch_file_handled(self, message: WatchFileHandled) -> None:
        """Say what happened to the file; new examples reach every pane through the refresh bus."""
        self.notify(file_line(message.event), severity="warning" if message.event.error else "information",  # type: ignore[attr-defined]
                    markup=False)
        self.post_message(DataChanged("examples"))  # type: ignore[attr-defined]

    def on_watch_changed(self, message: WatchChanged) -> None:
        """Show the watcher's state on the status bar."""
        from lightdom_tui.tui.widgets.status_bar import StatusBar

        if message.on:
            self.notify(f"watching {self.workspace.inbox_dir}: ctrl+w stops it")  # type: ignore[attr-defined]
        else:
            self.watch_stop = None
            s = message.summary
            self.notify("stopped watching the inbox" + (f": {s.files} file(s), imported {s.imported}" if s else ""))  # type: ignore[attr-defined]
        self.query_one(StatusBar).set_watching(message.on)  # type: ignore[attr-defined]

    def stop_watch_now(self) -> None:
        """Ask the watcher to stop before the app exits (it notices within a second)."""
        if self.watch_stop is not None:
            self.watch_stop.set()
