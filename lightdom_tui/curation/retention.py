"""`lightdom cleanup`: drop old quarantine rows, processed inbox files and gateway conversations; never examples.

A gateway call's conversation (``gatewaycall``) is kept so a verdict on it works later; after
``retention_days`` it goes (its ``RequestLog`` facts and any curation example made of it stay),
and a verdict on it then gets the gateway's "no logged gateway call".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from lightdom_tui.curation import rawdb
from lightdom_tui.workspace import Workspace


@dataclass
class CleanupResult:
    """What cleanup removed."""

    days: int
    quarantine_rows: int = 0
    processed_files: int = 0
    gateway_calls: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One line saying what went (or would go, on a dry run)."""
        verb = "would remove" if self.dry_run else "removed"
        return (f"{verb} {self.quarantine_rows} quarantine rows, {self.processed_files} processed files, "
                f"{self.gateway_calls} gateway conversations")


def cleanup(ws: Workspace, days: int | None = None, *, dry_run: bool = False) -> CleanupResult:
    """Remove quarantine rows, processed inbox files and gateway conversations older than ``days``
    (default from settings)."""
    days = ws.settings.curation.retention_days if days is None else days
    if days < 0:
        from lightdom_tui.errors import LightdomError

        raise LightdomError(f"--days {days}: must be 0 or more")
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    result = CleanupResult(days=days, dry_run=dry_run)
    conn = rawdb.connect(ws)
    try:
        stamp = cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")
        with rawdb.immediate(conn):
            result.quarantine_rows = _drop_older(conn, "quarantine", stamp, dry_run)
            result.gateway_calls = _drop_older(conn, "gatewaycall", stamp, dry_run)
    finally:
        conn.close()
    if ws.processed_dir.is_dir():
        for path in ws.processed_dir.iterdir():
            if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < cutoff:
                result.processed_files += 1
                if not dry_run:
                    path.unlink()
    return result


def _drop_older(conn: Any, table: str, stamp: str, dry_run: bool) -> int:
    """Rows of ``table`` created before ``stamp``: counted on a dry run, else deleted."""
    if dry_run:
        return conn.execute(f"SELECT COUNT(*) FROM {table} WHERE created_at < ?", (stamp,)).fetchone()[0]
    return conn.execute(f"DELETE FROM {table} WHERE created_at < ?", (stamp,)).rowcount
