"""Where a data stream's rows go: a SQLite table per stream in ``storage/datastreams.db``, or JSONL.

The rows live in their own database file so a long extraction never holds the
workspace database's write lock. Each row carries ``_run_id``, ``_source``,
``_extracted_at`` and ``_errors`` (validation messages, JSON) next to one column per
attribute; new attributes add columns. Arrays and objects are stored as JSON text.
"""

from __future__ import annotations

import atexit
import json
import re
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import orjson

from lightdom_tui.errors import LightdomError

STREAMS_DB = "datastreams.db"
META_COLUMNS = ("_run_id", "_source", "_extracted_at", "_errors")
_SQL_TYPES = {"number": "REAL", "boolean": "INTEGER"}


class Destination(Protocol):
    """A sink for extracted rows: lists in ``columns(...)`` order (meta columns, then attributes)."""

    target: str

    def write(self, rows: list[list[Any]]) -> None: ...

    def close(self) -> None: ...


def streams_db_path(root: Path) -> Path:
    """The separate SQLite file holding every data stream's table."""
    return root / "storage" / STREAMS_DB


def default_table(datastream_id: int, name: str) -> str:
    """Table name for a stream without an explicit ``sqlite:TABLE``."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "stream"
    return f"ds_{datastream_id}_{slug}"[:60]


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict, tuple)):
        try:
            return orjson.dumps(value).decode()  # ~10× json.dumps; this runs for every array cell
        except TypeError:
            return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return int(value)
    return value


_idle_connections: dict[Path, sqlite3.Connection] = {}
_idle_lock = threading.Lock()


def _hold_open(path: Path) -> None:
    """Keep one idle connection to the streams database for the life of the process.

    Closing the last connection to a WAL database checkpoints it with an fsync (measured
    6.5 ms, a twentieth of a 2,000-page run); while this one stays open a run closes in
    0.2 ms and SQLite checkpoints as the WAL grows instead, and once more at exit.
    """
    with _idle_lock:
        if path not in _idle_connections:
            conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL index; no lock kept
            _idle_connections[path] = conn


def close_idle_connections() -> None:
    """Close the held connections (at exit: the last close checkpoints the WAL)."""
    with _idle_lock:
        while _idle_connections:
            _idle_connections.popitem()[1].close()


atexit.register(close_idle_connections)


@dataclass
class SqliteDestination:
    """Rows into one table of ``storage/datastreams.db`` (created/extended as needed)."""

    path: Path
    table: str
    columns: dict[str, str]  # attribute name → attribute type

    def __post_init__(self) -> None:
        self.target = f"sqlite:{self.table}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        _hold_open(self.path)
        quoted = '"' + self.table + '"'
        existing = {row[1] for row in self._conn.execute(f"PRAGMA table_info({quoted})")}
        if not existing:  # one CREATE with every column (cheaper than CREATE + one ALTER per attribute)
            columns = "".join(f', "{n}" {_SQL_TYPES.get(k, "TEXT")}' for n, k in self.columns.items())
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {quoted} (_id INTEGER PRIMARY KEY, _run_id INTEGER, "
                               f"_source TEXT, _extracted_at TEXT, _errors TEXT{columns})")
        else:  # attributes added since the last run become new columns
            for name, kind in self.columns.items():
                if name not in existing:
                    self._conn.execute(f'ALTER TABLE {quoted} ADD COLUMN "{name}" {_SQL_TYPES.get(kind, "TEXT")}')
        self._conn.commit()
        names = list(META_COLUMNS) + list(self.columns)
        self._names = names
        # only array/object/boolean columns need converting; the rest go to sqlite as they are
        self._convert = [i for i, n in enumerate(names) if self.columns.get(n) in ("array", "object", "boolean")
                         or n == "_errors"]
        self._sql = (
            f"INSERT INTO {quoted} ({', '.join(chr(34) + n + chr(34) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )

    def write(self, rows: list[list[Any]]) -> None:
        """Append rows (lists in column order; converted in place) in one transaction."""
        if not rows:
            return
        convert = self._convert
        if convert:
            for cells in rows:
                for i in convert:
                    value = cells[i]
                    if value is not None:
                        cells[i] = _cell(value)
        with self._conn:
            self._conn.executemany(self._sql, rows)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


@dataclass
class JsonlDestination:
    """Rows appended to a JSONL file (relative paths are inside the workspace)."""

    path: Path
    columns: dict[str, str]

    def __post_init__(self) -> None:
        self.target = f"jsonl:{self.path}"
        self._names = list(META_COLUMNS) + list(self.columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, rows: list[list[Any]]) -> None:
        """Append rows, one JSON object a line, flushed."""
        names = self._names
        for cells in rows:
            self._file.write(json.dumps(dict(zip(names, cells)), ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def open_destination(root: Path, datastream_id: int, name: str, destination: str,
                     columns: dict[str, str]) -> SqliteDestination | JsonlDestination:
    """Open the sink named by a data stream's ``destination`` (empty = its own SQLite table).

    The executor passes ``jsonl:`` paths already checked by the run's access policy.
    """
    kind, _, target = (destination or f"sqlite:{default_table(datastream_id, name)}").partition(":")
    if kind == "sqlite":
        return SqliteDestination(streams_db_path(root), target, columns)
    if kind == "jsonl":
        path = Path(target).expanduser()
        return JsonlDestination(path if path.is_absolute() else root / path, columns)
    raise LightdomError(f"datastream {datastream_id}.destination: {destination!r} is not sqlite:TABLE or jsonl:PATH")


def read_rows(root: Path, destination: str, datastream_id: int, name: str, *, limit: int = 100,
              run_id: int | None = None) -> list[dict[str, Any]]:
    """Read back rows (newest last) for display, tests and training export."""
    kind, _, target = (destination or f"sqlite:{default_table(datastream_id, name)}").partition(":")
    if kind == "jsonl":
        from lightdom_tui.orchestration.policy import load_policy

        path = load_policy(root).check_path(target, f"datastream {datastream_id} ({name}).destination")
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if run_id is not None:
            rows = [r for r in rows if r.get("_run_id") == run_id]
        return rows[-limit:]
    db = streams_db_path(root)
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (target,)).fetchone():
            return []
        where, params = ("WHERE _run_id = ?", (run_id,)) if run_id is not None else ("", ())
        cursor = conn.execute(f'SELECT * FROM "{target}" {where} ORDER BY _id DESC LIMIT ?', (*params, limit))
        return [dict(row) for row in reversed(cursor.fetchall())]
    finally:
        conn.close()


def count_rows(root: Path, destination: str, datastream_id: int, name: str, *, run_id: int | None = None) -> int:
    """How many rows a data stream's destination holds (of one run), so a capped view can say 'N of M'."""
    kind, _, target = (destination or f"sqlite:{default_table(datastream_id, name)}").partition(":")
    if kind == "jsonl":
        return len(read_rows(root, destination, datastream_id, name, limit=sys.maxsize, run_id=run_id))
    db = streams_db_path(root)
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=30)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (target,)).fetchone():
            return 0
        where, params = ("WHERE _run_id = ?", (run_id,)) if run_id is not None else ("", ())
        return int(conn.execute(f'SELECT COUNT(*) FROM "{target}" {where}', params).fetchone()[0])
    finally:
        conn.close()


def now_iso() -> str:
    """Timestamp for ``_extracted_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
