"""kill -9 during `lightdom train`, then resume: it finishes, the database is intact, and the
metric curve has every step exactly once and continues where an uninterrupted run goes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightdom_tui.training.config import TrainRequest
from lightdom_tui.training.runs import list_runs, resume_run, show_run
from lightdom_tui.training.trainer import train

pytestmark = pytest.mark.slow

STEPS = 12
OPTIONS = {"max_steps": STEPS, "save_steps": 3, "eval_steps": 6, "max_seq_len": 256}


def lightdom_train(home: Path, dataset: str, base: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), "train", "--dataset", dataset,
               "--base", base, "--preset", "tiny-cpu", "--max-steps", str(STEPS), "--save-steps", "3",
               "--eval-steps", "6", "--max-seq-len", "256", "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})


def wait_for_checkpoint(db: Path, process: subprocess.Popen, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"train exited early: {process.stderr.read().decode()[-2000:]}")
        if db.exists():
            with sqlite3.connect(db, timeout=30) as connection:
                row = connection.execute("select last_checkpoint from trainingrun where id = 1").fetchone()
            if row and row[0]:
                return row[0]
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared")


def test_kill_9_then_resume_finishes_with_a_contiguous_curve(workspace, tiny_base, small_dataset) -> None:
    process = lightdom_train(workspace.root, small_dataset, tiny_base)
    checkpoint = wait_for_checkpoint(workspace.db_path, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed = show_run(workspace, 1)
    assert killed.status == "running" and not killed.alive and Path(checkpoint).is_dir()
    assert killed.step < STEPS  # it really died mid-run
    assert list_runs(workspace)[0].alive is False

    result = resume_run(workspace, 1)
    assert result.status == "completed" and result.adapter_version

    with sqlite3.connect(workspace.db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        steps = [s for (s,) in connection.execute("select step from runmetric where run_id = 1 order by step")]
    assert steps == list(range(1, STEPS + 1))

    # The same run without the crash (same seed, data order, RNG): the resumed curve matches it.
    reference = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides=OPTIONS))
    resumed_curve = [m["loss"] for m in show_run(workspace, 1).metrics]
    reference_curve = [m["loss"] for m in show_run(workspace, reference.run_id).metrics]
    assert resumed_curve == pytest.approx(reference_curve, rel=1e-3)
