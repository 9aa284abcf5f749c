"""Training use cases: plan a run (config, base, memory estimate), train, follow, cancel, resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
# Re-exported (``X as X``): the faces' progress callbacks subclass it without importing the training service.
from lightdom_tui.training.callbacks import StepMetrics as StepMetrics
from lightdom_tui.training.callbacks import TrainingCallback as TrainingCallback
from lightdom_tui.usecases.options import parse_int_option
from lightdom_tui.workspace import Workspace


@dataclass(frozen=True)
class TrainingSpec:
    """A training request as a user gives it; ``overrides`` are per-field preset overrides."""

    dataset: str
    base: str | None = None
    preset: str | None = None
    method: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    adapter_name: str | None = None
    force: bool = False

    def request(self) -> Any:
        """The trainer's ``TrainRequest`` (empty overrides dropped)."""
        from lightdom_tui.training.config import TrainRequest

        if not (self.dataset or "").strip():
            raise LightdomError("dataset: required (build one with `lightdom dataset build` or b in the curation pane)")
        overrides = {k: v for k, v in self.overrides.items() if v is not None}
        return TrainRequest(dataset=self.dataset.strip(), base=(self.base or "").strip() or None,
                            preset=(self.preset or "").strip() or None, method=self.method or None,
                            overrides=overrides, adapter_name=self.adapter_name, force=self.force)


FORM_STEPS = {"max_steps": "max steps", "eval_steps": "eval every", "save_steps": "save every",
              "batch_size": "batch size", "grad_accum": "gradient accumulation", "max_seq_len": "max sequence length",
              "lora_r": "LoRA rank", "seed": "seed", "early_stopping_patience": "patience"}
FORM_NUMBERS = {"learning_rate": "learning rate", "epochs": "epochs"}
FORM_YES_NO = {"packing": "packing", "gradient_checkpointing": "gradient checkpointing"}


def spec_from_form(values: dict[str, str]) -> TrainingSpec:
    """A start form (dataset, base, preset, method; hyper-parameters as text, yes / no choices, empty = the
    preset's; the adapter's name; force past the memory estimate) → a spec, as `lightdom train`'s flags.

    Nothing is invented: a field left empty keeps the preset's value.
    """
    from lightdom_tui.usecases.options import parse_float_option

    overrides = {key: parse_int_option(values.get(key), label) for key, label in FORM_STEPS.items()}
    overrides |= {key: parse_float_option(values.get(key), label) for key, label in FORM_NUMBERS.items()}
    overrides |= {key: _yes_no(values.get(key), label) for key, label in FORM_YES_NO.items()}
    return TrainingSpec(dataset=values.get("dataset", ""), base=values.get("base") or None,
                        preset=values.get("preset") or None, method=values.get("method") or None,
                        overrides=overrides, adapter_name=(values.get("name") or "").strip() or None,
                        force=_yes_no(values.get("force"), "start even if it won't fit") is True)


def _yes_no(value: str | None, where: str) -> bool | None:
    """A form's yes / no field; empty keeps the preset's (None)."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in ("yes", "no"):
        raise LightdomError(f"{where}: {value!r} is not yes or no")
    return text == "yes"


@dataclass
class TrainingPlan:
    """What a run would do, known before any model loads."""

    spec: TrainingSpec
    preset: str
    method: str
    base: str
    dataset: str
    device: str
    estimate: Any  # training.memory.MemoryEstimate
    config: dict[str, Any]
    recipe: str = ""  # steps, epochs, eval cadence and time estimate (training.recipe.RecipePlan.summary)

    @property
    def fits(self) -> bool:
        """Whether the memory estimate says the run fits on the device."""
        return bool(self.estimate.fits)

    def summary(self) -> str:
        """One line: preset, method, base and the memory estimate."""
        recipe = f"; {self.recipe}" if self.recipe else ""
        return f"preset {self.preset}, method {self.method}, base {self.base}: {self.estimate.summary()}{recipe}"


def plan_training(ws: Workspace, spec: TrainingSpec) -> TrainingPlan:
    """Resolve the config, the dataset and the base, and estimate memory (the trainer's own pre-check)."""
    from lightdom_tui.training.trainer import plan_run

    plan = plan_run(ws, spec.request())
    return TrainingPlan(spec, plan.preset, plan.config.method, plan.base.name,
                        f"{plan.dataset.name}@{plan.dataset.version}", plan.device, plan.estimate,
                        plan.config.to_dict(), plan.recipe.summary() if plan.recipe else "")


@dataclass
class TrainingDone:
    """A finished (or failed / cancelled) run and the exact command that exports it."""

    run_id: int
    status: str
    adapter_version: str | None
    metrics: dict[str, Any]
    next_command: str | None


def export_command(result: Any, home: Path | None = None) -> str | None:
    """``lightdom [--home H] export run:ID`` for a run that produced an adapter, else None."""
    if not getattr(result, "adapter_version", None):
        return None
    where = f"--home {home} " if home is not None else ""
    return f"lightdom {where}export run:{result.run_id}"


def _done(result: Any, home: Path | None) -> TrainingDone:
    return TrainingDone(result.run_id, result.status, result.adapter_version, dict(result.metrics),
                        export_command(result, home))


def train(ws: Workspace, spec: TrainingSpec, *, callbacks: list[Any] | None = None,
          home: Path | None = None) -> TrainingDone:
    """Train in this process to the end (``home`` is echoed in the next command when given)."""
    from lightdom_tui.training.trainer import train as run

    return _done(run(ws, spec.request(), callbacks=callbacks), home)


def train_with_accelerate(ws: Workspace, spec: TrainingSpec, *, home: Path | None = None,
                          processes: int | None = None) -> TrainingDone:
    """Train through ``accelerate launch`` with a written accelerate config (``processes``: default one per GPU)."""
    from lightdom_tui.training.accelerate_launch import train_with_accelerate as run

    return _done(run(ws, spec.request(), processes=processes), home)


def export_training_script(ws: Workspace, spec: TrainingSpec, folder: Path) -> Any:
    """Write a standalone transformers/peft script and its config for this request."""
    from lightdom_tui.training.scripts import export_script

    return export_script(ws, spec.request(), folder)


def list_runs(ws: Workspace) -> list[Any]:
    """Training runs, newest first (``RunSummary``)."""
    from lightdom_tui.training.runs import list_runs as runs

    return runs(ws)


def show_run(ws: Workspace, run_id: int) -> Any:
    """A run's record, config and metric curve (``RunDetail``)."""
    from lightdom_tui.training.runs import show_run as show

    return show(ws, run_id)


def cancel_run(ws: Workspace, run_id: int) -> Any:
    """Ask a running run to stop at its next step."""
    from lightdom_tui.training.runs import request_cancel

    return request_cancel(ws, run_id)


def resume_run(ws: Workspace, run_id: int, *, callbacks: list[Any] | None = None,
               home: Path | None = None) -> TrainingDone:
    """Continue a crashed, failed or cancelled run from its last checkpoint."""
    from lightdom_tui.training.runs import resume_run as resume

    return _done(resume(ws, run_id, callbacks=callbacks), home)


@dataclass(frozen=True)
class TrainingChoices:
    """What the training form offers: dataset versions (newest first), preset names and methods."""

    datasets: tuple[str, ...]
    presets: tuple[str, ...]
    methods: tuple[str, ...] = ()


def training_choices(ws: Workspace) -> TrainingChoices:
    """The dataset refs (NAME@VERSION) and presets a run can start from, as `dataset list` and `train --preset` know them."""
    from lightdom_tui.training.config import METHOD_VALUES
    from lightdom_tui.training.presets import list_presets
    from lightdom_tui.usecases.curation import list_datasets

    return TrainingChoices(tuple(d["ref"] for d in list_datasets(ws)), tuple(p.name for p in list_presets()),
                           METHOD_VALUES)
