"""`lightdom train --accelerate`: scale out through `accelerate launch`, not a home-made engine.

The run is recorded like any other: a TrainingRun row, the standalone script + config
exported into ``models/runs/<id>/accelerate/``, an accelerate config written next to it
(DDP over every visible GPU, FSDP on request, CPU when there is none), then
``accelerate launch``. Afterwards the script's ``metrics.jsonl`` is imported into
RunMetric and its adapter published with the same lineage as the in-process trainer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.db.models import RunMetric
from lightdom_tui.errors import LightdomError

if TYPE_CHECKING:  # pragma: no cover
    from lightdom_tui.training.config import TrainRequest, TrainResult
    from lightdom_tui.workspace import Workspace

ACCELERATE_CONFIG = "accelerate.yaml"
STRATEGIES = ("ddp", "fsdp")


def accelerate_config(n_gpus: int, strategy: str = "ddp", bf16: bool = True,
                      processes: int | None = None) -> dict[str, Any]:
    """An accelerate config for this machine: CPU, one GPU, or DDP / FSDP over ``n_gpus``.

    ``processes`` (default: one per GPU) above 1 on a box without GPUs runs DDP over CPU
    processes (gloo): the multi-GPU code path, testable without a GPU.
    """
    if strategy not in STRATEGIES:
        raise LightdomError(f"strategy '{strategy}': expected one of {', '.join(STRATEGIES)}")
    n = processes if processes is not None else max(1, n_gpus)
    if n < 1 or (n_gpus and n > n_gpus):
        raise LightdomError(f"processes {n}: expected 1 to {max(1, n_gpus)} (one per GPU)" if n_gpus
                            else f"processes {n}: expected at least 1")
    if n > 1 and not n_gpus and strategy == "fsdp":
        raise LightdomError("strategy 'fsdp': needs GPUs; use ddp for CPU processes")
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "machine_rank": 0,
        "num_machines": 1,
        "num_processes": n,
        "mixed_precision": "bf16" if n_gpus and bf16 else "no",
        "use_cpu": n_gpus == 0,
        "distributed_type": "NO",
        "main_training_function": "main",
    }
    if n > 1:
        # accelerate starts >1 local processes through torchrun only for its multi-GPU type; on
        # CPU each process then joins over gloo. Port 0: a free port, so runs never collide.
        config["distributed_type"] = "FSDP" if strategy == "fsdp" else "MULTI_GPU"
        config["main_process_port"] = 0
    if n > 1 and strategy == "fsdp":
        config["fsdp_config"] = {
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_use_orig_params": True,
            "fsdp_cpu_ram_efficient_loading": True,
        }
    return config


def write_accelerate_config(path: Path, strategy: str = "ddp", processes: int | None = None) -> Path:
    """Write the accelerate config for the visible GPUs (JSON is valid YAML)."""
    import torch

    n_gpus = _gpu_count()
    bf16 = bool(n_gpus) and torch.cuda.is_bf16_supported()
    path.write_text(json.dumps(accelerate_config(n_gpus, strategy, bf16, processes), indent=2) + "\n", encoding="utf-8")
    return path


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch_command(config_file: Path, script: Path, script_config: Path, max_steps: int | None = None) -> list[str]:
    """The `accelerate launch` command line (the venv's accelerate)."""
    accelerate = Path(sys.executable).with_name("accelerate")
    head = [str(accelerate)] if accelerate.is_file() else [sys.executable, "-m", "accelerate.commands.launch"]
    if head[0] == str(accelerate):
        head.append("launch")
    tail = ["--max-steps", str(max_steps)] if max_steps else []
    return [*head, "--config_file", str(config_file), str(script), "--config", str(script_config), *tail]


def import_metrics(workspace: Workspace, run_id: int, metrics_file: Path) -> int:
    """Copy the script's metrics.jsonl into RunMetric rows (one per step, eval merged in)."""
    if not metrics_file.is_file():
        return 0
    by_step: dict[int, dict[str, Any]] = {}
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_step.setdefault(int(record["step"]), {}).update(record)
    with workspace.session() as session:
        for step, record in sorted(by_step.items()):
            if "loss" not in record and "eval_loss" not in record:
                continue  # the final train summary line
            session.add(RunMetric(run_id=run_id, step=step, epoch=record.get("epoch"), loss=record.get("loss"),
                                  eval_loss=record.get("eval_loss"), learning_rate=record.get("learning_rate"),
                                  grad_norm=record.get("grad_norm")))
    return len(by_step)


def train_with_accelerate(workspace: Workspace, request: TrainRequest, strategy: str = "ddp",
                          processes: int | None = None) -> TrainResult:
    """Record a run, export the script, launch it with accelerate, then publish its adapter.

    ``processes``: how many to launch (default one per GPU; see :func:`accelerate_config`).
    """
    from lightdom_tui.training.config import TrainResult
    from lightdom_tui.training.scripts import export_script
    from lightdom_tui.training.trainer import _load_run, _set_status, adapter_name, create_run, publish_adapter

    accelerate_config(_gpu_count(), strategy, processes=processes)  # a bad count fails before a run is recorded
    run_id = create_run(workspace, request, launcher="accelerate")
    run, dataset, config, meta = _load_run(workspace, run_id)
    folder = Path(run.output_dir or workspace.runs_dir / str(run_id)) / "accelerate"
    _set_status(workspace, run_id, "running", pid=os.getpid())  # we wait on the launch
    try:
        exported = export_script(workspace, request, folder)
        config_file = write_accelerate_config(folder / ACCELERATE_CONFIG, strategy, processes)
        command = launch_command(config_file, exported.script, exported.config)
        completed = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        (folder / "launch.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
        import_metrics(workspace, run_id, folder / "output" / "metrics.jsonl")
        if completed.returncode != 0:
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LightdomError(f"accelerate launch exited {completed.returncode}: {tail[0]} (see {folder / 'launch.log'})")
        adapter = folder / "output" / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            raise LightdomError(f"accelerate run {run_id}: the script wrote no adapter at {adapter}")
        tmp = workspace.models_dir / "adapters" / f".run{run_id}-accelerate.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(adapter, tmp)
        summary = {"launcher": "accelerate", "command": command, "train_examples": exported.train_examples,
                   "validation_examples": exported.validation_examples}
        name = adapter_name(workspace, run, dataset, config, meta)
        version = publish_adapter(workspace, run, dataset, config, tmp, name, summary, _architecture(adapter))
    except BaseException as exc:
        _set_status(workspace, run_id, "failed", error=str(exc)[:2000])
        raise
    return TrainResult(run_id, "completed", version, summary)


def _architecture(adapter: Path) -> str | None:
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if base and (Path(base) / "config.json").is_file():
        return json.loads((Path(base) / "config.json").read_text(encoding="utf-8")).get("model_type")
    return None
