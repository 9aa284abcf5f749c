"""CLI --json shapes and one-line errors of the curation commands (real subprocess for init --sample)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from conftest import chat, write_jsonl  # type: ignore[import-not-found]
from lightdom_tui.cli import app

runner = CliRunner()


def _run(ws, *args: str) -> dict:  # noqa: ANN001
    result = runner.invoke(app, ["--home", str(ws.root), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_examples_rules_dataset_json_shapes(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [chat(f"q{i}", f"a{i}", confidence=0.9 if i % 2 else 0.2)
                                             for i in range(10)] + ["oops"])
    report = _run(ws, "ingest", str(path), "--task-type", "general")
    assert {"read", "imported", "duplicates", "quarantined", "errors"} <= set(report)
    assert (report["read"], report["imported"], report["quarantined"]) == (11, 10, 1)
    assert report["errors"] == [{"file": str(path), "line": 11, "reason": report["errors"][0]["reason"]}]

    listing = _run(ws, "examples", "list", "--limit", "4")
    assert listing["total"] == 10 and len(listing["examples"]) == 4 and listing["next_after"] == 4
    assert _run(ws, "examples", "list", "--after", "4", "--limit", "4")["examples"][0]["id"] == 5
    shown = _run(ws, "examples", "show", "1")
    assert shown["messages"][-1] == {"role": "assistant", "content": "a0"}

    assert _run(ws, "examples", "approve", "1", "2")["changed"] == 2
    assert _run(ws, "examples", "reject", "3", "--reason", "bad")["changed"] == 1
    assert _run(ws, "examples", "undo")["changed"] == 1
    edited = _run(ws, "examples", "edit", "1", "--answer", "better")
    assert edited["new_example_id"] == 11
    rules = _run(ws, "rules", "apply", "--min-confidence", "0.5")
    assert (rules["approved"], rules["rejected"]) == (4, 4)
    stats = _run(ws, "examples", "stats")
    assert stats["by_status"] == {"approved": 6, "rejected": 5} and stats["quarantined"] == 1

    built = _run(ws, "dataset", "build", "cli", "--seed", "1")
    assert built["ref"] == "cli@1" and built["n_train"] + built["n_validation"] == 6
    assert _run(ws, "dataset", "list")["datasets"][0]["ref"] == "cli@1"
    exported = _run(ws, "dataset", "export", "cli", str(tmp_path / "exp"), "--format", "alpaca", "--no-token-counts")
    assert exported["format"] == "alpaca" and sum(f["records"] for f in exported["files"]) == 6
    assert _run(ws, "quarantine", "list")["total"] == 1
    assert _run(ws, "cleanup", "--days", "0")["quarantine_rows"] == 1


def test_errors_are_one_line_on_stderr(ws, tmp_path: Path) -> None:
    for args, fragment in (
        (["ingest", str(tmp_path / "missing.jsonl")], "no such file or folder"),
        (["examples", "approve"], "give example IDs"),
        (["examples", "reject", "1"], "--reason"),
        (["dataset", "export", "nope"], "dataset 'nope': not found"),
        (["rules", "apply"], "--min-confidence"),
    ):
        result = runner.invoke(app, ["--home", str(ws.root), *args, "--json"])
        assert result.exit_code == 1, args
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, result.stderr)


def test_init_sample_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    out = subprocess.run([sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), "init", "--sample", "--json"],
                         capture_output=True, text=True, timeout=120, check=True)
    samples = json.loads(out.stdout)["samples"]
    assert samples["files"] >= 5 and samples["imported"] >= 300
    assert samples["read"] == samples["imported"] + samples["duplicates"] + samples["quarantined"]
    assert 3 <= samples["quarantined"] <= 15  # the deliberately broken lines
    stats = subprocess.run([sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), "examples", "stats",
                            "--json"], capture_output=True, text=True, timeout=60, check=True)
    by_task = json.loads(stats.stdout)["by_task_type"]
    assert {"tool_use", "curation", "attribute_generation"} <= set(by_task)
