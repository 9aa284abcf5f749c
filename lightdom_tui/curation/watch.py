"""`lightdom watch`: ingest files dropped into training_data/inbox, then move them to processed/.

A file is moved only after its rows are committed (ingest commits per batch and marks
the file done last); a crash mid-file leaves it in the inbox and the next pass resumes
it. Temporary names (``*.tmp``, ``*.part``, dot files) are ignored until renamed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lightdom_tui.curation.ingest import IngestReport, ingest_paths
from lightdom_tui.curation.reader import is_data_file
from lightdom_tui.workspace import Workspace


@dataclass
class WatchEvent:
    """One file handled by the watcher."""

    file: str
    moved_to: str | None
    report: IngestReport | None = None
    error: str | None = None


@dataclass
class WatchSummary:
    """Totals of a watch session."""

    files: int = 0
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failed: list[str] = field(default_factory=list)


def pending_files(inbox: Path, processed: Path) -> list[Path]:
    """Data files waiting in the inbox (not in processed/, not temporary)."""
    return [p for p in sorted(inbox.iterdir()) if p.is_file() and is_data_file(p)
            and p.parent != processed and not p.name.endswith((".tmp", ".part"))]


def _move(path: Path, processed: Path) -> Path:
    target = processed / path.name
    counter = 1
    while target.exists():
        target = processed / f"{path.stem}.{counter}{''.join(path.suffixes[-1:])}"
        counter += 1
    shutil.move(str(path), target)
    return target


def process_inbox(ws: Workspace, inbox: Path | None = None, *, source: str | None = None,
                  on_event: Callable[[WatchEvent], None] | None = None) -> WatchSummary:
    """Ingest every waiting file once, moving each to processed/ after its commit."""
    inbox = inbox or ws.inbox_dir
    processed = ws.processed_dir if inbox == ws.inbox_dir else inbox / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    summary = WatchSummary()
    for path in pending_files(inbox, processed):
        try:
            report = ingest_paths(ws, [path], source=source or "inbox")
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the watcher
            summary.failed.append(f"{path}: {exc}")
            if on_event:
                on_event(WatchEvent(str(path), None, error=str(exc)))
            continue
        moved = _move(path, processed)
        summary.files += 1
        summary.read += report.read
        summary.imported += report.imported
        summary.duplicates += report.duplicates
        summary.quarantined += report.quarantined
        if on_event:
            on_event(WatchEvent(str(path), str(moved), report))
    return summary


def watch_inbox(ws: Workspace, inbox: Path | None = None, *, source: str | None = None,
                stop_event: threading.Event | None = None,
                on_event: Callable[[WatchEvent], None] | None = None) -> WatchSummary:
    """Process the inbox now and whenever files change, until ``stop_event`` is set (or Ctrl-C)."""
    from watchfiles import watch

    inbox = inbox or ws.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    total = WatchSummary()

    def run_once() -> None:
        summary = process_inbox(ws, inbox, source=source, on_event=on_event)
        total.files += summary.files
        total.read += summary.read
        total.imported += summary.imported
        total.duplicates += summary.duplicates
        total.quarantined += summary.quarantined
        total.failed.extend(summary.failed)

    try:
        run_once()
        for _changes in watch(inbox, stop_event=stop_event, recursive=False, debounce=300, rust_timeout=500,
                              yield_on_timeout=False):
            run_once()
    except KeyboardInterrupt:  # Ctrl-C ends a watch session normally, with its totals
        pass
    return total
