"""`lightdom train --accelerate --processes 2`: two CPU processes over gloo (DDP) against one.

World size 2 with a per-process batch of 1 is an effective batch of 2, so the launch is
compared with the same exported script run as one plain process at batch 2 (same data,
seed and step count): an epoch takes half as many steps as at batch 1, and each step
should take the same two examples. Why they should agree to float32 rounding: same seed,
so the same LoRA init on every rank (DDP also broadcasts rank 0's); accelerate hands rank r
every other batch of the one length-grouped order, so step k sees the same two examples
either way; transformers divides the loss by the label tokens of all ranks, so the
all-reduced gradient is the one-process gradient. Only the summation order differs
(≈1e-7 relative measured), but AdamW's first steps (m/√v ≈ ±1) can turn a sign flip of a
near-zero gradient into a full learning-rate step, so the bound is 1e-3 relative: 1e4×
the rounding seen. The weights compared are the LoRA B matrices: they start at zero, so
their norm is the whole learned update and 1e-3 of it is 0.1 % of what training changed
(a different batch per step moves them by tens of percent).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from lightdom_tui.db.models import ModelVersion, RunMetric, TrainingRun
from lightdom_tui.registry.versions import get_version
from lightdom_tui.training.config import TrainRequest
from lightdom_tui.training.scripts import export_script

pytestmark = pytest.mark.slow

STEPS = 6
COMMON = {"max_steps": STEPS, "save_steps": 1000, "eval_steps": 1000, "max_seq_len": 256, "seed": 7}
TOLERANCE = 1e-3


def _cli(workspace, *args: str):
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    return CliRunner().invoke(app, ["--home", str(workspace.root), *args, "--json"])


def _request(dataset: str, base: str, batch_size: int) -> TrainRequest:
    return TrainRequest(dataset=dataset, base=base, preset="tiny-cpu", overrides={**COMMON, "batch_size": batch_size})


def _relative_b(a: dict, b: dict) -> float:
    """Largest relative Frobenius distance over the adapter's LoRA B matrices (zero at init)."""
    assert a.keys() == b.keys()
    names = [k for k in a if "lora_B" in k]
    assert len(names) >= 2 * 7  # q, k, v, o, gate, up, down on each of the 2 layers
    return max(float((a[k] - b[k]).norm() / b[k].norm()) for k in names)


def test_two_cpu_processes_over_gloo_match_one_process_at_the_same_effective_batch(
        workspace, tiny_base, small_dataset, tmp_path) -> None:
    from safetensors.torch import load_file

    # the one-process reference runs alongside the launch (2 cores: it fills the launcher's idle time)
    reference = export_script(workspace, _request(small_dataset, tiny_base, 2), tmp_path / "one")
    plain = subprocess.Popen([sys.executable, str(reference.script), "--config", str(reference.config)],
                             cwd=reference.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in COMMON.items()]
    result = _cli(workspace, "train", "--accelerate", "--processes", "2", "--dataset", small_dataset,
                  "--base", tiny_base, "--preset", "tiny-cpu", "--batch-size", "1", *flags)
    out, _ = plain.communicate(timeout=300)
    assert plain.returncode == 0, out[-3000:]
    assert result.exit_code == 0, (result.stdout, result.stderr)
    two = json.loads(result.stdout)
    assert two["status"] == "completed" and two["adapter_version"]
    assert two["next_command"].endswith(f"export run:{two['run_id']}")
    run_id = two["run_id"]
    folder = workspace.runs_dir / str(run_id) / "accelerate"
    config = json.loads((folder / "accelerate.yaml").read_text())
    assert (config["num_processes"], config["use_cpu"], config["distributed_type"]) == (2, True, "MULTI_GPU")
    with workspace.session() as session:
        run = session.get(TrainingRun, run_id)
        adapter = session.exec(select(ModelVersion).where(ModelVersion.version == two["adapter_version"])).one()
        rows = session.exec(select(RunMetric).where(RunMetric.run_id == run_id).order_by(RunMetric.step)).all()
        base_id = get_version(session, tiny_base).id
    assert run.status == "completed" and run.adapter_version_id == adapter.id
    assert (adapter.kind, adapter.parent_id, adapter.run_id) == ("adapter", base_id, run.id)

    # world size 2 doubles the effective batch: 24 examples are 12 steps an epoch, not 24
    launched = [(r.step, r.loss, r.epoch) for r in rows if r.loss is not None]
    assert [step for step, _, _ in launched] == list(range(1, STEPS + 1))
    assert launched[-1][2] == pytest.approx(STEPS / 12)
    logged = [json.loads(line) for line in (reference.directory / "output" / "metrics.jsonl").read_text().splitlines()]
    single = [(r["step"], r["loss"], r["epoch"]) for r in logged if "loss" in r]
    assert [(s, e) for s, _, e in single] == [(s, pytest.approx(e)) for s, _, e in launched]
    for (_, loss2, _), (_, loss1, _) in zip(launched, single, strict=True):
        assert loss2 == pytest.approx(loss1, rel=TOLERANCE)

    ddp = load_file(Path(adapter.path) / "adapter_model.safetensors")
    one = load_file(reference.directory / "output" / "adapter" / "adapter_model.safetensors")
    assert _relative_b(ddp, one) < TOLERANCE


def test_process_count_is_checked_before_anything_runs() -> None:
    from lightdom_tui.errors import LightdomError
    from lightdom_tui.training.accelerate_launch import accelerate_config

    cpu2 = accelerate_config(0, processes=2)
    assert (cpu2["num_processes"], cpu2["use_cpu"], cpu2["distributed_type"], cpu2["main_process_port"]) == (
        2, True, "MULTI_GPU", 0)
    assert accelerate_config(0, processes=1)["distributed_type"] == "NO"
    with pytest.raises(LightdomError, match="processes 3: expected 1 to 2"):
        accelerate_config(2, processes=3)
    with pytest.raises(LightdomError, match="processes 0"):
        accelerate_config(0, processes=0)
    with pytest.raises(LightdomError, match="fsdp': needs GPUs"):
        accelerate_config(0, "fsdp", processes=2)


def test_processes_outside_accelerate_or_beyond_the_machine_is_one_line_and_records_no_run(
        workspace, small_dataset) -> None:
    alone = _cli(workspace, "train", "--dataset", small_dataset, "--processes", "2")
    assert alone.exit_code == 1 and alone.stderr.strip() == "error: --processes: only with --accelerate"
    zero = _cli(workspace, "train", "--accelerate", "--processes", "0", "--dataset", small_dataset)
    assert zero.exit_code == 1 and "processes 0" in zero.stderr and len(zero.stderr.strip().splitlines()) == 1
    with workspace.session() as session:
        assert session.exec(select(TrainingRun)).all() == []
