"""`lightdom watch`: ingest files dropped into training_data/inbox, then move them to processed/.

A file is taken only once it is settled: its size and mtime have not moved for
``settle_s`` seconds (a writer still appending keeps it waiting). It is moved only after
its rows are committed (ingest commits per batch and marks the file done last), only if
ingest finished it, and only if it did not change since it was taken; if it changed
during the move it is put back. A crash mid-file leaves it in the inbox and the next
pass resumes it. Temporary names (``*.tmp``, ``*.part``, dot files) are ignored until renamed.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lightdom_tui.curation.ingest import IngestReport, file_state, ingest_paths
from lightdom_tui.curation.reader import is_data_file
from lightdom_tui.workspace import Workspace

SETTLE_S = 1.0  # a file must not change for this long before the watcher takes it


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
    waiting: list[str] = field(default_factory=list)  # still being written or left to resume: next pass


def pending_files(inbox: Path, processed: Path) -> list[Path]:
    """Data files waiting in the inbox (not in processed/, not temporary)."""
    return [p for p in sorted(inbox.iterdir()) if p.is_file() and is_data_file(p)
            and p.parent != processed and not p.name.endswith((".tmp", ".part"))]


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    counter = 1
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}.{counter}{dot}{suffix}"
        counter += 1
    return target


def _move(path: Path, folder: Path) -> Path:
    target = _free_name(folder, path.name)
    shutil.move(str(path), target)
    return target


def _state(path: Path) -> tuple[int, int] | None:
    try:
        return file_state(path)
    except OSError:
        return None


def settled_files(paths: list[Path], settle_s: float = SETTLE_S) -> tuple[list[tuple[Path, tuple[int, int]]], list[Path]]:
    """Split files into settled ones (with their size and mtime) and ones still changing.

    Settled: neither size nor mtime moved for ``settle_s`` seconds. Files changed more
    recently are looked at again once they could be settled (one wait of at most ``settle_s``).
    """
    states = {path: state for path in paths if (state := _state(path)) is not None}
    now = time.time()
    ages = {path: now - state[1] / 1e9 for path, state in states.items()}
    young = {path for path, age in ages.items() if not age >= settle_s}  # a future mtime counts as young
    wait = 0.0
    if young:
        wait = min(settle_s, max(settle_s - ages[path] for path in young))
        time.sleep(wait + 0.01)
    ready, waiting = [], []
    for path, state in states.items():
        if path in young:
            quiet = time.time() - state[1] / 1e9 >= settle_s or wait >= settle_s
            if _state(path) != state or not quiet:
                waiting.append(path)
                continue
        ready.append((path, state))
    return ready, waiting


def process_inbox(ws: Workspace, inbox: Path | None = None, *, source: str | None = None,
                  on_event: Callable[[WatchEvent], None] | None = None,
                  settle_s: float = SETTLE_S) -> WatchSummary:
    """Ingest every settled waiting file once, moving each to processed/ once all its lines are committed."""
    inbox = inbox or ws.inbox_dir
    processed = ws.processed_dir if inbox == ws.inbox_dir else inbox / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    summary = WatchSummary()
    ready, waiting = settled_files(pending_files(inbox, processed), settle_s)
    summary.waiting.extend(f"{path}: still being written" for path in waiting)
    for path, state in ready:
        try:
            report = ingest_paths(ws, [path], source=source or "inbox")
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the watcher
            summary.failed.append(f"{path}: {exc}")
            if on_event:
                on_event(WatchEvent(str(path), None, error=str(exc)))
            continue
        if report.incomplete or _state(path) != state:  # not all of it is in: leave it for the next pass
            why = "; ".join(report.incomplete) or f"{path}: changed while being ingested"
            summary.waiting.append(why)
            if on_event:
                on_event(WatchEvent(str(path), None, report, error=f"left in the inbox: {why}"))
            continue
        moved = _move(path, processed)
        if _state(moved) != state:  # a writer that still had it open appended during the move
            back = _move(moved, inbox)
            summary.waiting.append(f"{back}: changed while being moved; put back")
            if on_event:
                on_event(WatchEvent(str(path), None, report, error=f"changed while being moved; put back as {back}"))
            continue
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
                on_event: Callable[[WatchEvent], None] | None = None,
                settle_s: float = SETTLE_S) -> WatchSummary:
    """Process the inbox now and whenever files change, until ``stop_event`` is set (or Ctrl-C)."""
    from watchfiles import watch

    inbox = inbox or ws.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    total = WatchSummary()

    def run_once() -> bool:
        summary = process_inbox(ws, inbox, source=source, on_event=on_event, settle_s=settle_s)
        total.files += summary.files
        total.read += summary.read
        total.imported += summary.imported
        total.duplicates += summary.duplicates
        total.quarantined += summary.quarantined
        total.failed.extend(summary.failed)
        total.waiting = summary.waiting
        return bool(summary.waiting)

    try:
        waiting = run_once()
        # wake up on changes, and also after a quiet spell while files were still settling
        for changes in watch(inbox, stop_event=stop_event, recursive=False, debounce=300,
                             rust_timeout=int(max(settle_s, 0.5) * 1000), yield_on_timeout=True):
            if changes or waiting:
                waiting = run_once()
    except KeyboardInterrupt:  # Ctrl-C ends a watch session normally, with its totals
        pass
    return total
