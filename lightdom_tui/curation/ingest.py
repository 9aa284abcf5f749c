"""`lightdom ingest`: stream files into the Example table, quarantining what is broken.

Every record read is exactly one of: imported, duplicate (exact content hash already
present) or quarantined (file, line, raw text, specific reason) — ``read = imported +
duplicates + quarantined``. Each batch (rows, quarantine rows and the file's progress
``IngestFile.lines_done``) is committed in one transaction, so a killed ingest resumes
where it stopped, neither losing nor duplicating rows; a finished file (same sha256)
is skipped on re-ingest.

The progress update is also the file's claim: it only applies when ``lines_done`` is
still where this ingest started the batch, so of two ingests of one file the second
finds its claim taken, rolls its batch back and stops (no doubled quarantine rows).
A file is marked done only when the bytes read hash to the sha256 it was claimed under
and its size and mtime did not move while it was read; otherwise the batch in hand is
dropped and the file stays ``running`` to be resumed (it is listed in ``incomplete``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lightdom_tui.curation import rawdb
from lightdom_tui.curation.formats import RecordError, parse_record
from lightdom_tui.curation.normalise import canonical_messages, hash_bytes, near_hash, near_text, serialise_bytes
from lightdom_tui.curation.quality import assess
from lightdom_tui.curation.reader import ByteSource, RawItem, is_data_file, iter_items
from lightdom_tui.db.jsoncol import dumps
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

MAX_REPORTED_ERRORS = 1000  # the report lists the first ones; all are in the quarantine table
MAX_RAW_CHARS = 1_000_000
PARAPHRASE_INLINE_MAX = 20_000  # larger imports defer the MinHash pass (`lightdom examples dedup`)


@dataclass
class IngestError:
    """One quarantined record."""

    file: str
    line: int
    reason: str


@dataclass
class IngestProgress:
    """Progress of the file being ingested (passed to the ``progress`` callback per batch)."""

    file: str
    position: int  # last line (JSONL) or item (JSON array) handled
    bytes_total: int
    done: bool
    read: int
    imported: int


@dataclass
class IngestReport:
    """What an ingest did; ``read == imported + duplicates + quarantined``."""

    read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    near_duplicates: int = 0
    paraphrases: int = 0
    paraphrase_check: str = "done"  # done / deferred (too many rows) / none
    files: int = 0
    skipped_files: list[str] = field(default_factory=list)  # already ingested (same sha256)
    incomplete: list[str] = field(default_factory=list)  # "path: why" for files left to resume
    errors: list[IngestError] = field(default_factory=list)
    imported_ids: list[int] = field(default_factory=list, repr=False)

    def add_error(self, file: str, line: int, reason: str) -> None:
        self.quarantined += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(IngestError(file, line, reason))


@dataclass
class PreparedRow:
    """A validated record ready for insertion (id and near_duplicate_of assigned at commit)."""

    source: str
    task_type: str
    messages_json: str
    content_hash: str
    near_hash: str
    quality: float
    confidence: float | None
    tokens: int
    metadata_json: str
    status: str = "pending"
    parent_id: int | None = None
    reject_reason: str | None = None


class ClaimLost(Exception):
    """Another ingest advanced this file's progress first; this batch was rolled back."""


@dataclass
class Batch:
    """Records of one file read since its last commit, and the progress they move it to."""

    file_id: int
    start: int  # IngestFile.lines_done this batch continues from (the claim)
    end: int
    done: bool
    rows: list[PreparedRow]
    quarantine: list[tuple]
    errors: list[IngestError]
    read: int


def prepare_record(
    value: Any, *, source: str, task_type: str | None, context_tokens: int, origin: str | None = None,
    file_name: str | None = None,
) -> PreparedRow:
    """Parse, validate, normalise, hash and score one decoded record (raises RecordError)."""
    record = parse_record(value)
    messages = canonical_messages(record.messages)
    data = serialise_bytes(messages)
    text = data.decode("utf-8")
    key = hash_bytes(data)
    tokens, quality = assess(messages, context_tokens)
    metadata = record.metadata
    metadata["format"] = record.format
    if origin:
        metadata["origin"] = origin
    kind = task_type or record.task_type
    if not kind:
        kind = "tool_use" if any("tool_calls" in m for m in messages) else "general"
    row_source = source if source != "__file__" else str(metadata.get("source") or file_name or "import")
    try:
        metadata_json = orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        try:  # big integers and other values orjson refuses
            metadata_json = dumps(metadata)
            metadata_json.encode("utf-8")
        except (UnicodeEncodeError, ValueError, TypeError, RecursionError) as exc:
            raise RecordError(f"metadata: cannot be stored ({type(exc).__name__})") from None
    return PreparedRow(
        source=row_source[:200],
        task_type=kind.strip()[:100],
        messages_json=text,
        content_hash=key,
        near_hash=near_hash(near_text(messages)),
        quality=quality,
        confidence=record.confidence,
        tokens=tokens,
        metadata_json=metadata_json,
    )


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders expanded to their data files (sorted); missing paths are an error."""
    files: list[Path] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and is_data_file(p)
                         and "processed" not in p.relative_to(path).parts[:-1])
        elif path.is_file():
            files.append(path)
        else:
            raise LightdomError(f"{path}: no such file or folder")
    return files


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (identifies it for resume and re-ingest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class BatchWriter:
    """Commits batches of prepared rows and quarantine entries with exact and near dedup."""

    def __init__(self, conn, report: IngestReport, keep_ids: bool = True) -> None:  # noqa: ANN001
        self.conn = conn
        self.report = report
        self.keep_ids = keep_ids

    def commit(self, batch: Batch) -> list[int]:
        """Insert one batch atomically if its claim holds; returns the new example ids (duplicates skipped).

        Raises ClaimLost (nothing written) when the file's progress is no longer ``batch.start``.
        """
        conn = self.conn
        now = rawdb.db_now()
        rows, quarantine = batch.rows, batch.quarantine
        with rawdb.immediate(conn):
            claimed = conn.execute(
                "UPDATE ingestfile SET lines_done = ?, status = ?, finished_at = ? "
                "WHERE id = ? AND lines_done = ? AND status = 'running'",
                (batch.end, "done" if batch.done else "running", now if batch.done else None,
                 batch.file_id, batch.start)).rowcount
            if claimed != 1:
                raise ClaimLost()
            fresh: dict[str, PreparedRow] = {}
            duplicates = 0
            for row in rows:
                if row.content_hash in fresh:
                    duplicates += 1
                else:
                    fresh[row.content_hash] = row
            hashes = list(fresh)
            for part in rawdb.chunks(hashes):
                marks = ",".join("?" * len(part))
                for (existing,) in conn.execute(f"SELECT content_hash FROM example WHERE content_hash IN ({marks})", part):
                    del fresh[existing]
                    duplicates += 1
            near_keys = list({row.near_hash for row in fresh.values()})
            near_ids: dict[str, int] = {}
            for part in rawdb.chunks(near_keys):
                marks = ",".join("?" * len(part))
                near_ids.update(conn.execute(
                    f"SELECT near_hash, MIN(id) FROM example WHERE near_hash IN ({marks}) GROUP BY near_hash", part))
            next_id = (conn.execute("SELECT MAX(id) FROM example").fetchone()[0] or 0) + 1
            params = []
            ids = []
            near = 0
            for row in fresh.values():
                near_of = near_ids.get(row.near_hash)
                if near_of is None:
                    near_ids[row.near_hash] = next_id
                else:
                    near += 1
                params.append((next_id, now, now, row.source, row.task_type, row.status, row.messages_json,
                               row.content_hash, row.near_hash, near_of, row.parent_id, row.quality,
                               row.confidence, row.tokens, row.reject_reason, row.metadata_json))
                ids.append(next_id)
                next_id += 1
            conn.executemany(rawdb.INSERT_EXAMPLE, params)
            if quarantine:
                conn.executemany(rawdb.INSERT_QUARANTINE, [(now, *q) for q in quarantine])
        self.report.read += batch.read
        for error in batch.errors:
            self.report.add_error(error.file, error.line, error.reason)
        self.report.imported += len(ids)
        self.report.duplicates += duplicates
        self.report.near_duplicates += near
        if self.keep_ids:
            self.report.imported_ids.extend(ids)
        return ids


def _start_file(conn, path: Path, sha: str, size: int) -> tuple[int, int, str]:  # noqa: ANN001
    """Find or create the IngestFile row in one transaction: (id, lines_done, status)."""
    with rawdb.immediate(conn):
        conn.execute(
            "INSERT OR IGNORE INTO ingestfile (path, sha256, size_bytes, lines_done, status, created_at) "
            "VALUES (?, ?, ?, 0, 'running', ?)", (str(path), sha, size, rawdb.db_now()))
        row = conn.execute("SELECT id, lines_done, status FROM ingestfile WHERE sha256 = ?", (sha,)).fetchone()
    return row


def file_state(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): what must not move while a file is read."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _quarantine_row(name: str, item: RawItem, reason: str) -> tuple:
    raw = item.raw_text()
    raw = raw if len(raw) <= MAX_RAW_CHARS else raw[:MAX_RAW_CHARS] + "…[truncated]"
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raw = raw.encode("utf-8", "replace").decode("utf-8")
    return (name, item.line, raw, reason)


class _Committer:
    """Commits batches on a background thread so parsing the next batch overlaps SQLite's work.

    SQLite releases the GIL while it writes; batches stay in order (one thread, a bounded
    queue), and an error in the writer is raised in the reader at the next batch.
    """

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ingest-commit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is None:
                try:
                    self.writer.commit(*job)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the reading thread
                    self.error = exc

    def submit(self, batch: Batch) -> None:
        """Queue one batch (blocks while two are waiting)."""
        if self.error is not None:
            raise self.error
        self.queue.put((batch,))

    def close(self) -> None:
        """Wait for every queued batch to be committed; raise the writer's error if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def ingest_file(
    ws: Workspace,
    path: Path,
    writer: BatchWriter,
    *,
    source: str | None,
    task_type: str | None,
    progress: Callable[[IngestProgress], None] | None = None,
) -> None:
    """Ingest one file in batches, resuming after its last committed position."""
    report = writer.report
    conn = writer.conn
    name = str(path)
    try:
        state = file_state(path)  # before hashing: a change after this point is seen below
        sha = file_sha256(path)
    except OSError as exc:
        raise LightdomError(f"{path}: cannot read ({exc.strerror or exc})") from None
    file_id, lines_done, status = _start_file(conn, path, sha, state[0])
    if status == "done":
        report.skipped_files.append(name)
        return
    report.files += 1
    short = path.name
    row_source = source or "__file__"
    context = ws.settings.curation.context_tokens
    batch_size = max(1, ws.settings.curation.batch_size)
    bytes_source = ByteSource(path)
    rows: list[PreparedRow] = []
    quarantine: list[tuple] = []
    errors: list[IngestError] = []
    start = position = lines_done
    read_before = report.read
    seen = 0
    committer = _Committer(writer)

    def flush(done: bool = False, end: int | None = None) -> None:
        nonlocal rows, quarantine, errors, start
        end = position if end is None else end
        committer.submit(Batch(file_id, start, end, done, rows, quarantine, errors, len(rows) + len(quarantine)))
        rows, quarantine, errors, start = [], [], [], end
        if progress:
            progress(IngestProgress(short, position, state[0], done, read_before + seen, report.imported))

    def changed() -> bool:
        try:
            return file_state(path) != state
        except OSError:
            return True

    why = None
    try:
        try:
            for item in iter_items(path, skip=lines_done, source=bytes_source):
                seen += 1
                position = item.position
                if item.error is None:
                    try:
                        rows.append(prepare_record(item.value, source=row_source, task_type=task_type,
                                                   context_tokens=context, origin=f"{short}:{item.line}",
                                                   file_name=short))
                    except RecordError as exc:
                        item.error = str(exc)
                    except RecursionError:
                        item.error = "nested too deeply"
                if item.error is not None:
                    reason = f"line {item.line}: {item.error}"
                    quarantine.append(_quarantine_row(name, item, reason))
                    errors.append(IngestError(name, item.line, reason))
                if len(rows) + len(quarantine) >= batch_size:
                    if changed():  # what is in hand may be the changed content: drop it, resume later
                        why = "changed while being read"
                        break
                    flush()
            if why is None:
                if changed():
                    why = "changed while being read"
                elif bytes_source.hexdigest() != sha:  # same size and mtime, other bytes: start over
                    why = "its content changed while being read"
                    rows, quarantine, errors = [], [], []
                    flush(end=0)
                else:
                    flush(done=True)
        finally:
            committer.close()
    except ClaimLost:
        why = "another ingest is reading it"
    if why is not None:
        report.incomplete.append(f"{name}: {why}; nothing of the unfinished batch was kept, ingest it again")


def ingest_paths(
    ws: Workspace,
    paths: Iterable[Path | str],
    *,
    source: str | None = None,
    task_type: str | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    paraphrases: bool = True,
) -> IngestReport:
    """Ingest files and folders (.jsonl, .json arrays, .jsonl.gz) into the workspace.

    ``source``/``task_type`` override what records carry. With ``paraphrases`` the new rows
    are also checked for close paraphrases (MinHash) when there are at most
    ``PARAPHRASE_INLINE_MAX`` of them; larger imports defer that pass to `lightdom examples dedup`.
    """
    files = expand_paths(paths)
    report = IngestReport()
    conn = rawdb.connect(ws)
    try:
        writer = BatchWriter(conn, report)
        for path in files:
            ingest_file(ws, path, writer, source=source, task_type=task_type, progress=progress)
            if len(report.imported_ids) > PARAPHRASE_INLINE_MAX:
                writer.keep_ids = False
                report.imported_ids = []
                report.paraphrase_check = "deferred"
    finally:
        conn.close()
    if not paraphrases:
        report.paraphrase_check = "none"
    elif report.paraphrase_check == "done" and report.imported_ids:
        from lightdom_tui.curation.dedup import flag_paraphrases

        report.paraphrases = flag_paraphrases(ws, report.imported_ids)
    assert report.read == report.imported + report.duplicates + report.quarantined
    return report


def iter_prepared(values: Iterator[Any], **kwargs: Any) -> Iterator[PreparedRow | RecordError]:
    """Prepare many decoded records (used by log_call and toolgen); errors are yielded, not raised."""
    for value in values:
        try:
            yield prepare_record(value, **kwargs)
        except RecordError as exc:
            yield exc
