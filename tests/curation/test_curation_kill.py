"""A real ingest process killed with SIGKILL midway, then re-run: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import chat  # type: ignore[import-not-found]
from lightdom_tui.curation.ingest import ingest_paths

N = 30_000


def _counts(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        examples = conn.execute("SELECT COUNT(*) FROM example").fetchone()[0]
        quarantine = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        distinct = conn.execute("SELECT COUNT(DISTINCT line) FROM quarantine").fetchone()[0]
        return examples, quarantine, distinct
    finally:
        conn.close()


def test_kill_midway_then_rerun(ws, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    bad = 0
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(N):
            if i % 97 == 0:
                handle.write('{"messages": [broken\n')
                bad += 1
            elif i % 50 == 1 and i > 1:
                handle.write(json.dumps(chat("question 0", "answer 0")) + "\n")  # exact duplicate of line 1
            else:
                handle.write(json.dumps(chat(f"question {i}", f"answer {i}")) + "\n")
    unique = len({line for line in path.read_text().splitlines() if "broken" not in line})
    ws.settings.curation.batch_size = 250
    ws.save_settings()
    script = ("import sys; from lightdom_tui.workspace import open_workspace; "
              "from lightdom_tui.curation.ingest import ingest_paths; "
              "ingest_paths(open_workspace(sys.argv[1]), [sys.argv[2]])")
    proc = subprocess.Popen([sys.executable, "-c", script, str(ws.root), str(path)])
    deadline = time.time() + 120
    killed_at = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            killed_at = _counts(ws.db_path)[0]
        except sqlite3.OperationalError:
            continue
        if killed_at > 2000:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    examples, quarantine, _ = _counts(ws.db_path)
    assert 0 < examples < unique
    conn = sqlite3.connect(ws.db_path)
    lines_done, status = conn.execute("SELECT lines_done, status FROM ingestfile").fetchone()
    conn.close()
    assert status == "running" and 0 < lines_done < N

    report = ingest_paths(ws, [path])
    assert report.read == N - lines_done  # resumed after the last committed batch
    examples, quarantine, distinct = _counts(ws.db_path)
    assert examples == unique
    assert quarantine == distinct == bad
    assert ingest_paths(ws, [path]).read == 0
