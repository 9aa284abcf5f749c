"""Near-duplicate detection beyond exact hashes: MinHash + LSH for close paraphrases.

Exact duplicates never enter (unique ``content_hash``); whitespace/case variants share
``near_hash`` and are flagged at ingest. This module finds close paraphrases — word
bigram sets whose MinHash-estimated Jaccard similarity is ≥
``settings.curation.near_duplicate_threshold`` — among the given examples and the most
recent ``window`` examples of the same task type, and flags the newer one with
``near_duplicate_of``. Nothing is deleted.

MinHash is computed for a whole batch at once with numpy (multiply-shift permutations of
CRC32 shingle hashes; datasketch's per-object MinHash measured ~300 µs/example here, too
slow for bulk ingest), then banded LSH (8 bands × 8 rows) proposes candidates and the signature
agreement confirms them.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from lightdom_tui.curation import rawdb
from lightdom_tui.curation.normalise import near_text
from lightdom_tui.workspace import Workspace

NUM_PERM = 64
BANDS = 8
ROWS = NUM_PERM // BANDS
WINDOW = 5000
_rng = np.random.RandomState(1)
_A = _rng.randint(1, 1 << 62, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64)
_SHIFT = np.uint64(32)


def shingles(text: str) -> set[str]:
    """Word bigrams (unigrams for one-word texts) of normalised text."""
    words = text.split()
    if len(words) < 2:
        return set(words) or {""}
    return {f"{a} {b}" for a, b in zip(words, words[1:])}


def signatures(texts: list[str]) -> np.ndarray:
    """MinHash signatures, shape (len(texts), NUM_PERM), of each text's shingles."""
    hashes: list[int] = []
    offsets: list[int] = []
    for text in texts:
        offsets.append(len(hashes))
        hashes.extend(zlib.crc32(s.encode("utf-8", "surrogatepass")) for s in shingles(text))
    if not texts:
        return np.zeros((0, NUM_PERM), dtype=np.uint32)
    values = np.asarray(hashes, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):  # multiply-shift hashing: wrap-around is the point
        permuted = ((values * _A + _B) >> _SHIFT).astype(np.uint32)
    return np.minimum.reduceat(permuted, np.asarray(offsets), axis=0)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / NUM_PERM


class ParaphraseIndex:
    """Banded LSH over MinHash signatures (insert, then query for older near matches)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in range(BANDS)]
        self.signature: dict[int, np.ndarray] = {}

    def query(self, signature: np.ndarray) -> int | None:
        """The oldest indexed id whose estimated similarity reaches the threshold."""
        candidates: set[int] = set()
        for band in range(BANDS):
            candidates.update(self.buckets[band].get(signature[band * ROWS:(band + 1) * ROWS].tobytes(), ()))
        matches = [c for c in candidates if similarity(self.signature[c], signature) >= self.threshold]
        return min(matches) if matches else None

    def insert(self, key: int, signature: np.ndarray) -> None:
        """Index one signature under ``key``."""
        self.signature[key] = signature
        for band in range(BANDS):
            self.buckets[band][signature[band * ROWS:(band + 1) * ROWS].tobytes()].append(key)


def _texts(rows: list[tuple[int, str]]) -> list[str]:
    import orjson

    return [near_text(orjson.loads(text)) for _, text in rows]


def flag_paraphrases(ws: Workspace, example_ids: Iterable[int], *, window: int = WINDOW,
                     threshold: float | None = None) -> int:
    """Flag new examples that closely paraphrase an older one; returns how many were flagged."""
    ids = sorted(set(example_ids))
    if not ids:
        return 0
    threshold = threshold if threshold is not None else ws.settings.curation.near_duplicate_threshold
    conn = rawdb.connect(ws)
    try:
        new_rows: dict[str, list[tuple]] = defaultdict(list)
        for part in rawdb.chunks(ids):
            marks = ",".join("?" * len(part))
            for row in conn.execute(
                f"SELECT id, task_type, messages_json, near_duplicate_of FROM example WHERE id IN ({marks})", part
            ):
                new_rows[row[1]].append(row)
        updates: list[tuple[int, int]] = []
        for task_type, rows in new_rows.items():
            rows.sort()
            index = ParaphraseIndex(threshold)
            older = conn.execute(
                "SELECT id, messages_json FROM example WHERE task_type = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (task_type, rows[0][0], window),
            ).fetchall()
            for (example_id, _), signature in zip(older, signatures(_texts(older))):
                index.insert(example_id, signature)
            fresh = [(r[0], r[2]) for r in rows]
            for (example_id, _, _, flagged), signature in zip(rows, signatures(_texts(fresh))):
                match = index.query(signature)
                if match is not None and flagged is None:
                    updates.append((match, example_id))
                index.insert(example_id, signature)
        if updates:
            with rawdb.immediate(conn):
                conn.executemany("UPDATE example SET near_duplicate_of = ? WHERE id = ? AND near_duplicate_of IS NULL",
                                 updates)
        return len(updates)
    finally:
        conn.close()


def scan_paraphrases(ws: Workspace, *, task_type: str | None = None, batch: int = 20000) -> int:
    """Run the paraphrase pass over every example (after big imports); returns how many were flagged."""
    conn = rawdb.connect(ws)
    try:
        sql = "SELECT id FROM example" + (" WHERE task_type = ?" if task_type else "") + " ORDER BY id"
        ids = [r[0] for r in conn.execute(sql, (task_type,) if task_type else ())]
    finally:
        conn.close()
    flagged = 0
    for start in range(0, len(ids), batch):
        flagged += flag_paraphrases(ws, ids[start:start + batch])
    return flagged
