"""Benchmark: ingest N generated chat examples vs plain sqlite3 executemany.

Generates a JSONL file (1% malformed lines, 5% exact duplicates), then in two child
processes (so each reports its own peak RSS):

- ingest:   ``curation.ingest.ingest_paths`` on a fresh workspace — reading, JSON
            parsing, validation, normalisation, hashing, exact + near dedup, quality
            scoring, quarantine and batched inserts, end to end;
- baseline: plain ``sqlite3`` ``executemany`` of the same rows, pre-serialised outside
            the timed region, into a table of the same shape (same DDL and indexes,
            same PRAGMAs and batch size).

Writes bench/results/ingest.json. ``--n`` sets the size (default 1,000,000; ``--quick`` = 50,000).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ingest.json"
TOPICS = ["product page", "blog post", "job listing", "recipe", "real estate listing", "event page", "news article",
          "hotel page", "car listing", "podcast episode"]
FIELDS = ["h1", "meta_description", "product_price", "author", "published_date", "sku", "rating", "currency"]


def generate(path: Path, n: int, seed: int = 0) -> dict[str, int]:
    """Write n lines: ~1% malformed, ~5% duplicates of earlier lines, the rest unique chats."""
    rng = random.Random(seed)
    recent: list[str] = []
    counts = {"lines": n, "malformed": 0, "duplicates": 0}
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            roll = rng.random()
            if roll < 0.01:
                counts["malformed"] += 1
                kind = rng.randrange(3)
                line = ('{"messages": [{"role": "user", "content": "broken ' + str(i) if kind == 0 else
                        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "tool", "content": "x"}]})
                        if kind == 1 else json.dumps({"messages": [{"role": "robot", "content": f"q{i}"}]}))
            elif roll < 0.06 and recent:
                counts["duplicates"] += 1
                line = rng.choice(recent)
            else:
                topic = rng.choice(TOPICS)
                field = rng.choice(FIELDS)
                record = {"messages": [
                    {"role": "system", "content": "You extract structured attributes from web pages. Reply with JSON."},
                    {"role": "user", "content": f"Page #{i}: {topic} about item {rng.randrange(10**9)}. "
                                                f"Which value does the field '{field}' have? Context: "
                                                f"{' '.join(rng.choice(TOPICS) for _ in range(6))}."},
                    {"role": "assistant", "content": json.dumps({field: f"value-{i}-{rng.randrange(10**6)}",
                                                                 "confidence": round(rng.random(), 3)})},
                ], "metadata": {"task_type": "attribute_extraction", "domain": topic}}
                line = json.dumps(record)
                if len(recent) < 5000:
                    recent.append(line)
                elif rng.random() < 0.01:
                    recent[rng.randrange(5000)] = line
            handle.write(line + "\n")
    return counts


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ingest(data: Path, home: Path) -> dict:
    """Child: ingest the file into a fresh workspace."""
    from lightdom_tui.curation.ingest import ingest_paths
    from lightdom_tui.workspace import create_workspace

    ws = create_workspace(home)
    start = time.perf_counter()
    report = ingest_paths(ws, [data], source="bench")
    seconds = time.perf_counter() - start
    rss = peak_rss_mb()
    queries = time_queries(ws)
    ws.close()
    return {"seconds": seconds, "read": report.read, "imported": report.imported, "duplicates": report.duplicates,
            "quarantined": report.quarantined, "near_duplicates": report.near_duplicates,
            "paraphrase_check": report.paraphrase_check, "peak_rss_mb": rss, "query_ms": queries}


def time_queries(ws) -> dict[str, float]:  # noqa: ANN001
    """Latency of what the TUI's curation table does on the full table (count + keyset pages)."""
    from lightdom_tui.curation.query import ExampleFilter, count_examples, cursor_of, page_examples

    out: dict[str, float] = {}
    with ws.session() as session:
        def timed(name: str, call):  # noqa: ANN001, ANN202
            start = time.perf_counter()
            value = call()
            out[name] = round((time.perf_counter() - start) * 1000, 1)
            return value

        timed("count_pending", lambda: count_examples(session, ExampleFilter(status="pending")))
        timed("count_quality_range", lambda: count_examples(session, ExampleFilter(min_quality=0.5, max_quality=0.95)))
        first = timed("first_page_by_id", lambda: page_examples(session, ExampleFilter(status="pending"), limit=200))
        deep_after = (count_examples(session, ExampleFilter()) or 1) - 1000
        timed("deep_page_by_id", lambda: page_examples(session, ExampleFilter(status="pending"), after=deep_after,
                                                       limit=200))
        page = timed("first_page_by_quality_desc", lambda: page_examples(session, None, limit=200,
                                                                         sort="-quality_score"))
        if page:
            cursor = cursor_of(page[-1], "-quality_score")
            timed("next_page_by_quality_desc", lambda: page_examples(session, None, after=cursor, limit=200,
                                                                     sort="-quality_score"))
        timed("filtered_page_task_type", lambda: page_examples(session, ExampleFilter(task_type="attribute_extraction",
                                                                                      status="pending"), limit=200))
        assert first
    return out


def run_baseline(data: Path, home: Path, batch: int = 2000) -> dict:
    """Child: executemany of pre-serialised rows into a same-shaped table; only inserts are timed."""
    from lightdom_tui.curation.rawdb import CACHE_KIB
    from lightdom_tui.workspace import create_workspace

    ws = create_workspace(home / "schema")
    ddl = sqlite3.connect(ws.db_path).execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'example' AND sql IS NOT NULL").fetchall()
    ws.close()
    conn = sqlite3.connect(home / "baseline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # same page cache as the ingest connection
    for (sql,) in ddl:
        conn.execute(sql)
    columns = ("created_at, updated_at, source, task_type, status, messages_json, content_hash, near_hash, "
               "quality_score, token_count, metadata_json")
    insert = f"INSERT OR IGNORE INTO example ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    timed = 0.0
    rows: list[tuple] = []
    inserted = 0

    def flush() -> None:
        nonlocal timed, rows, inserted
        start = time.perf_counter()
        conn.execute("BEGIN")
        inserted += conn.executemany(insert, rows).rowcount
        conn.execute("COMMIT")
        timed += time.perf_counter() - start
        rows = []

    now = "2026-01-01 00:00:00.000000"
    with open(data, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                messages = json.dumps(record["messages"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            except (ValueError, KeyError):
                continue
            key = hashlib.blake2b(messages.encode(), digest_size=16).hexdigest()
            rows.append((now, now, "bench", "attribute_extraction", "pending", messages, key, key[:16], 0.9,
                         len(messages) // 4, json.dumps(record.get("metadata", {}))))
            if len(rows) >= batch:
                flush()
    if rows:
        flush()
    return {"seconds": timed, "inserted": inserted, "peak_rss_mb": peak_rss_mb()}


def child(kind: str, data: Path, home: Path) -> dict:
    """Run one side in a fresh interpreter and return its JSON result."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--data", str(data), "--home", str(home)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 examples")
    parser.add_argument("--child", choices=["ingest", "baseline"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        result = run_ingest(args.data, args.home) if args.child == "ingest" else run_baseline(args.data, args.home)
        print(json.dumps(result))
        return
    n = 50_000 if args.quick else args.n
    with tempfile.TemporaryDirectory(prefix="lightdom-bench-") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "chats.jsonl"
        start = time.perf_counter()
        counts = generate(data, n)
        gen_seconds = time.perf_counter() - start
        (tmp_path / "ingest").mkdir()
        (tmp_path / "baseline").mkdir()
        baseline = child("baseline", data, tmp_path / "baseline")
        ingest = child("ingest", data, tmp_path / "ingest")
        size = data.stat().st_size
    ingest_rate = ingest["read"] / ingest["seconds"]
    baseline_rate = baseline["inserted"] / baseline["seconds"]
    result = {
        "n": n,
        "file_mb": round(size / 2**20, 1),
        "generated": counts,
        "generate_seconds": round(gen_seconds, 2),
        "ingest": {**ingest, "records_per_s": round(ingest_rate), "seconds": round(ingest["seconds"], 2),
                   "peak_rss_mb": round(ingest["peak_rss_mb"], 1)},
        "baseline": {**baseline, "records_per_s": round(baseline_rate), "seconds": round(baseline["seconds"], 2),
                     "peak_rss_mb": round(baseline["peak_rss_mb"], 1),
                     "what": "sqlite3 executemany of pre-serialised rows, same DDL/indexes/PRAGMAs (WAL, synchronous=NORMAL, "
                             "64 MiB cache)/batch size; "
                             "only inserts timed"},
        "ratio": round(ingest_rate / baseline_rate, 3),
        "targets": {"ratio_min": 0.5, "seconds_max_at_1m": 60},
        "accounted": ingest["read"] == ingest["imported"] + ingest["duplicates"] + ingest["quarantined"],
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
