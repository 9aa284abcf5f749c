"""`lightdom cleanup`: drop old quarantine rows and processed inbox files; never examples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lightdom_tui.curation import rawdb
from lightdom_tui.workspace import Workspace


@dataclass
class CleanupResult:
    """What cleanup removed."""

    days: int
    quarantine_rows: int = 0
    processed_files: int = 0
    dry_run: bool = False


def cleanup(ws: Workspace, days: int | None = None, *, dry_run: bool = False) -> CleanupResult:
    """Remove quarantine rows and processed inbox files older than ``days`` (default from settings)."""
    days = ws.settings.curation.retention_days if days is None else days
    if days < 0:
        from lightdom_tui.errors import LightdomError

        raise LightdomError(f"--days {days}: must be 0 or more")
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    result = CleanupResult(days=days, dry_run=dry_run)
    conn = rawdb.connect(ws)
    try:
        stamp = cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")
        if dry_run:
            result.quarantine_rows = conn.execute("SELECT COUNT(*) FROM quarantine WHERE created_at < ?",
                                                  (stamp,)).fetchone()[0]
        else:
            result.quarantine_rows = conn.execute("DELETE FROM quarantine WHERE created_at < ?", (stamp,)).rowcount
    finally:
        conn.close()
    if ws.processed_dir.is_dir():
        for path in ws.processed_dir.iterdir():
            if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < cutoff:
                result.processed_files += 1
                if not dry_run:
                    path.unlink()
    return result
