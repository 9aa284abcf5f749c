"""`lightdom train --export-script`, the accelerate config, and `lightdom runs` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightdom_tui.cli import app
from lightdom_tui.training.accelerate_launch import accelerate_config, launch_command, write_accelerate_config


def cli(workspace, *args: str):
    return CliRunner().invoke(app, ["--home", str(workspace.root), *args])


def test_accelerate_config_for_cpu_ddp_and_fsdp() -> None:
    cpu = accelerate_config(0)
    assert (cpu["use_cpu"], cpu["distributed_type"], cpu["num_processes"], cpu["mixed_precision"]) == (True, "NO", 1, "no")
    ddp = accelerate_config(4)
    assert (ddp["distributed_type"], ddp["num_processes"], ddp["mixed_precision"]) == ("MULTI_GPU", 4, "bf16")
    assert accelerate_config(2, "fsdp")["fsdp_config"]["fsdp_sharding_strategy"] == "FULL_SHARD"


def test_runs_commands_print_one_json_object_and_errors_name_the_run(workspace) -> None:
    listed = cli(workspace, "runs", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == {"runs": []}
    missing = cli(workspace, "runs", "show", "7", "--json")
    assert missing.exit_code == 1 and missing.stderr.strip() == "error: run 7: no such training run (see `lightdom runs list`)"
    bad = cli(workspace, "train", "--dataset", "nope", "--json")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: dataset 'nope'")


@pytest.mark.slow
def test_export_script_and_accelerate_config_reproduce_one_step_on_cpu(workspace, tiny_base, small_dataset, tmp_path) -> None:
    out = tmp_path / "export"
    result = cli(workspace, "train", "--dataset", small_dataset, "--base", tiny_base, "--preset", "tiny-cpu",
                 "--export-script", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout)
    assert (exported["train_examples"], exported["validation_examples"]) == (24, 6)
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "lora" and config["lora_r"] == 8 and Path(config["base_model"]).is_dir()
    script = (out / "train.py").read_text()
    assert "lightdom_tui" not in script.replace("LightDom", "")  # standalone: no import of ours
    accel = write_accelerate_config(out / "accelerate.yaml")
    assert json.loads(accel.read_text())["use_cpu"] is True
    command = launch_command(accel, out / "train.py", out / "config.json")
    assert command[1:4] == ["launch", "--config_file", str(accel)] and command[-3:] == [
        str(out / "train.py"), "--config", str(out / "config.json")]
    run = subprocess.run([sys.executable, str(out / "train.py"), "--config", str(out / "config.json"), "--max-steps", "1"],
                         capture_output=True, text=True, cwd=out, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "output" / "adapter" / "adapter_model.safetensors").is_file()
    logged = [json.loads(line) for line in (out / "output" / "metrics.jsonl").read_text().splitlines()]
    assert logged[0]["step"] == 1 and logged[0]["loss"] > 0
