"""The CLI contract: --json prints exactly one object; user errors are one stderr line, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIGHTDOM = [sys.executable, "-m", "lightdom_tui.cli"]


def run_cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("LIGHTDOM_HOME", None)
    command = [*LIGHTDOM, *(["--home", str(home)] if home else []), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_init_json_is_one_object_and_idempotent(tmp_path: Path) -> None:
    first = run_cli("init", "--json", home=tmp_path / "w")
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)  # exactly one JSON document, nothing else
    assert payload["created"] is True
    assert payload["default_model"]["version"] == "smollm2-135m-instruct"
    assert len(payload["default_model"]["sha256"]) == 64
    second = json.loads(run_cli("init", "--json", home=tmp_path / "w").stdout)
    assert second["created"] is False
    assert second["default_model"] == payload["default_model"]


def test_commands_outside_a_workspace_exit_1_with_one_line(tmp_path: Path) -> None:
    result = run_cli("settings", "show", "--json", home=tmp_path / "nothing-here")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "not a LightDom workspace" in lines[0] and "lightdom init" in lines[0]
    assert "Traceback" not in result.stderr


def test_doctor_reports_every_section(tmp_path: Path) -> None:
    run_cli("init", home=tmp_path / "w")
    result = run_cli("doctor", "--json", home=tmp_path / "w")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("python", "torch", "llama_cpp", "bitsandbytes", "keyring", "disk", "workspace", "embedded_model"):
        assert key in report
    assert report["torch"]["device"] in ("cpu", "cuda")
    assert report["llama_cpp"]["installed"] is True
    assert report["workspace"]["initialised"] is True
    assert report["workspace"]["schema_revision"] == report["workspace"]["schema_head"]


def test_settings_set_bad_value_names_the_key(tmp_path: Path) -> None:
    run_cli("init", home=tmp_path / "w")
    ok = run_cli("settings", "set", "serving.n_threads", "3", "--json", home=tmp_path / "w")
    assert json.loads(ok.stdout)["value"] == 3
    bad = run_cli("settings", "set", "serving.nope", "3", home=tmp_path / "w")
    assert bad.returncode == 1 and "unknown setting 'nope'" in bad.stderr


@pytest.mark.parametrize("args", [["--help"], ["init", "--help"]])
def test_help_starts_without_the_training_stack(args: list[str]) -> None:
    """`lightdom --help` must not import torch (edge boxes, fast start)."""
    code = (
        "import sys; sys.argv=['lightdom', *%r]\n"
        "from lightdom_tui import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'transformers' not in sys.modules\n" % (args,)
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
