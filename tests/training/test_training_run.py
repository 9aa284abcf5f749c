"""Real (tiny) training runs: metrics in the database while training, checkpoints, the
registered adapter and its lineage, cancel, early stopping, QLoRA on CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from lightdom_tui.db.models import ModelVersion, RunMetric, TrainingRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.training.callbacks import StepMetrics, TrainingCallback
from lightdom_tui.training.config import TrainRequest
from lightdom_tui.training.runs import request_cancel, resume_run, show_run
from lightdom_tui.training.trainer import train

pytestmark = pytest.mark.slow

FAST = {"max_steps": 8, "save_steps": 4, "eval_steps": 4, "max_seq_len": 256}


class SeenInDatabase(TrainingCallback):
    """Reads RunMetric back after every step: metrics are committed while training runs."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.rows_seen: list[int] = []

    def on_step(self, metrics: StepMetrics) -> None:
        with self.workspace.session() as session:
            rows = session.exec(select(RunMetric.step).where(RunMetric.step == metrics.step)).all()
        self.rows_seen.append(len(rows))


def test_run_records_metrics_checkpoints_and_registers_the_adapter(workspace, tiny_base, small_dataset) -> None:
    seen = SeenInDatabase(workspace)
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides=FAST),
                   callbacks=[seen])
    assert result.status == "completed" and result.adapter_version
    assert seen.rows_seen == [1] * 8  # each step's row was readable by another session right away
    detail = show_run(workspace, result.run_id)
    assert [m["step"] for m in detail.metrics] == list(range(1, 9))
    assert [m["step"] for m in detail.metrics if m["eval_loss"] is not None] == [4, 8]
    assert all(m["loss"] > 0 and m["grad_norm"] >= 0 and m["tokens_per_sec"] > 0 for m in detail.metrics)
    assert detail.library_versions["torch"] and detail.library_versions["peft"]
    assert detail.config["data"]["train"]["used"] == 24 and detail.config["summary"]["truncated"] == 0
    checkpoint = Path(detail.last_checkpoint)
    assert checkpoint.name == "step-0000008"
    assert {p.name for p in checkpoint.iterdir()} == {"adapter", "optimizer.pt", "scheduler.pt", "rng.pt", "state.json"}
    with workspace.session() as session:
        adapter = session.exec(select(ModelVersion).where(ModelVersion.version == result.adapter_version)).one()
        base = session.exec(select(ModelVersion).where(ModelVersion.version == tiny_base)).one()
        run = session.get(TrainingRun, result.run_id)
    assert (adapter.kind, adapter.format, adapter.parent_id, adapter.run_id) == ("adapter", "peft", base.id, run.id)
    assert adapter.dataset_id == run.dataset_id and run.adapter_version_id == adapter.id
    assert json.loads(adapter.prompts_json) == {"attribute_generation": {"system": "You design data attributes."}}
    metrics = json.loads(adapter.metrics_json)
    assert metrics["manifest_hash"] and metrics["best_eval_loss"] == pytest.approx(
        min(m["eval_loss"] for m in detail.metrics if m["eval_loss"] is not None))
    assert (Path(adapter.path) / "adapter_model.safetensors").is_file()
    assert json.loads((Path(adapter.path) / "lightdom_adapter.json").read_text())["run_id"] == run.id


class CancelAt(TrainingCallback):
    """Requests a cancel through the service API, as `lightdom runs cancel` does from another shell."""

    def __init__(self, workspace: Any, step: int) -> None:
        self.workspace, self.step = workspace, step

    def on_step(self, metrics: StepMetrics) -> None:
        if metrics.step == self.step:
            request_cancel(self.workspace, 1)


def test_cancel_stops_at_the_next_step_keeps_a_checkpoint_and_resumes(workspace, tiny_base, small_dataset) -> None:
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides=FAST),
                   callbacks=[CancelAt(workspace, 3)])
    assert (result.run_id, result.status, result.adapter_version) == (1, "cancelled", None)
    detail = show_run(workspace, 1)
    assert detail.status == "cancelled" and [m["step"] for m in detail.metrics] == [1, 2, 3]
    assert Path(detail.last_checkpoint).name == "step-0000003"
    with workspace.session() as session:
        assert session.exec(select(ModelVersion).where(ModelVersion.kind == "adapter")).first() is None
    with pytest.raises(LightdomError, match="only a queued or running run"):
        request_cancel(workspace, 1)
    resumed = resume_run(workspace, 1)
    assert resumed.status == "completed" and resumed.adapter_version
    assert [m["step"] for m in show_run(workspace, 1).metrics] == list(range(1, 9))


def test_early_stopping_on_eval_loss_keeps_the_best_adapter(workspace, tiny_base, small_dataset) -> None:
    overrides = {**FAST, "max_steps": 20, "eval_steps": 2, "early_stopping_patience": 2,
                 "early_stopping_min_delta": 100.0}  # no later eval can beat the first by 100
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides=overrides))
    assert result.status == "completed" and result.metrics["early_stopped"] is True
    assert result.metrics["steps"] == 6 and result.metrics["best_step"] == 2
    with workspace.session() as session:
        adapter = session.exec(select(ModelVersion).where(ModelVersion.kind == "adapter")).one()
    assert json.loads((Path(adapter.path) / "lightdom_adapter.json").read_text())["adapter_step"] == 2


def test_time_budget_stops_the_run_with_a_closing_eval_and_keeps_the_adapter(workspace, tiny_base,
                                                                             small_dataset) -> None:
    overrides = {**FAST, "max_steps": 20, "eval_steps": 10, "time_budget_s": 0.001}  # any step exceeds it
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides=overrides))
    assert result.status == "completed" and result.adapter_version
    assert result.metrics["early_stopped"] is True and result.metrics["steps"] == 1 and result.metrics["best_step"] == 1
    assert result.metrics["eval_seconds"] > 0  # the budget stop evaluates once before it saves


def test_qlora_nf4_trains_on_cpu(workspace, tiny_base, small_dataset) -> None:
    overrides = {"max_steps": 2, "save_steps": 2, "eval_steps": 2, "max_seq_len": 128, "grad_accum": 1}
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", method="qlora",
                                           overrides=overrides))
    assert result.status == "completed"
    config = json.loads((Path(show_run(workspace, result.run_id).last_checkpoint) / "adapter" / "adapter_config.json").read_text())
    assert {name.rsplit(".", 1)[-1] for name in config["target_modules"]} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert show_run(workspace, result.run_id).method == "qlora"


def test_layers_to_transform_puts_adapters_on_those_layers_only(workspace, tiny_base, small_dataset) -> None:
    from safetensors import safe_open

    overrides = {"max_steps": 1, "save_steps": 1, "eval_steps": 1, "max_seq_len": 128, "grad_accum": 1,
                 "target_modules": ["q_proj", "v_proj"], "layers_to_transform": [1]}
    result = train(workspace, TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", method="lora",
                                           overrides=overrides))
    assert result.status == "completed"
    adapter = Path(show_run(workspace, result.run_id).last_checkpoint) / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        layers = {name.split("layers.")[1].split(".")[0] for name in weights.keys()}
    assert layers == {"1"}  # the tiny model has layers 0 and 1
