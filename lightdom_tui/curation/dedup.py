"""Near-duplicate detection beyond exact hashes: MinHash (datasketch) for close paraphrases.

Exact duplicates never enter (unique ``content_hash``); whitespace/case variants share
``near_hash`` and are flagged at ingest. This module finds close paraphrases — word
bigram sets with estimated Jaccard ≥ ``settings.curation.near_duplicate_threshold`` —
among the given examples and the most recent ``window`` examples of the same task type,
and flags the newer one with ``near_duplicate_of``. Nothing is deleted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from lightdom_tui.curation import rawdb
from lightdom_tui.curation.normalise import near_text
from lightdom_tui.workspace import Workspace

NUM_PERM = 64
WINDOW = 5000


def shingles(text: str) -> set[bytes]:
    """Word bigrams (unigrams for one-word texts) of normalised text."""
    words = text.split()
    if len(words) < 2:
        return {w.encode("utf-8", "surrogatepass") for w in words}
    return {f"{a} {b}".encode("utf-8", "surrogatepass") for a, b in zip(words, words[1:])}


def minhash(text: str):  # noqa: ANN201 - datasketch type imported lazily
    """MinHash signature of a text's shingles."""
    from datasketch import MinHash

    signature = MinHash(num_perm=NUM_PERM)
    signature.update_batch(list(shingles(text)))
    return signature


def flag_paraphrases(ws: Workspace, example_ids: Iterable[int], *, window: int = WINDOW,
                     threshold: float | None = None) -> int:
    """Flag new examples that closely paraphrase an older one; returns how many were flagged."""
    from datasketch import MinHashLSH

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
            lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
            older = conn.execute(
                "SELECT id, messages_json FROM example WHERE task_type = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (task_type, rows[0][0], window),
            ).fetchall()
            for example_id, text in reversed(older):
                lsh.insert(example_id, minhash(near_text(json.loads(text))))
            for example_id, _, text, flagged in rows:
                signature = minhash(near_text(json.loads(text)))
                matches = [m for m in lsh.query(signature) if m < example_id]
                if matches and flagged is None:
                    updates.append((min(matches), example_id))
                lsh.insert(example_id, signature)
        if updates:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("UPDATE example SET near_duplicate_of = ? WHERE id = ? AND near_duplicate_of IS NULL",
                             updates)
            conn.execute("COMMIT")
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
