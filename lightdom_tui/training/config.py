"""One dataclass holds every knob of a run; requests and results are dataclasses too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lightdom_tui.errors import LightdomError

METHOD_VALUES = ("qlora", "lora")
SCHEDULE_VALUES = ("cosine", "linear", "constant")
TRUNCATION_VALUES = ("truncate", "drop")
DTYPE_VALUES = ("auto", "float32", "bfloat16")
TASK_METRIC_VALUES = ("", "name_f1")
DEFAULT_TARGET_MODULES = "all-linear"  # peft: every linear projection except the LM head


@dataclass
class TrainConfig:
    """Hyperparameters and run mechanics; presets fill it, CLI flags override single fields."""

    method: str = "qlora"  # qlora (4-bit NF4 base) / lora (full-precision base)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] = DEFAULT_TARGET_MODULES
    # Only these decoder layers get adapters (peft's layers_to_transform); empty = all layers.
    # Adapters on the top layers only let the backward pass stop early: a CPU recipe's lever.
    layers_to_transform: list[int] = field(default_factory=list)
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.03  # used when warmup_steps is 0
    epochs: float = 1.0
    max_steps: int = 0  # > 0 overrides epochs
    batch_size: int = 1  # packed rows per micro-batch
    grad_accum: int = 4
    max_seq_len: int = 1024
    packing: bool = True  # False = length-grouped batches (padding only to the batch's longest)
    truncation: str = "truncate"  # what to do with conversations over max_seq_len
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    seed: int = 0
    logging_steps: int = 1
    eval_steps: int = 50
    save_steps: int = 50
    early_stopping_patience: int = 0  # evals without improvement before stopping; 0 = off
    early_stopping_min_delta: float = 0.0
    max_eval_batches: int = 0  # 0 = the whole validation split
    # Steps scaled to the data (training/recipe.py): at least min_steps optimizer updates,
    # epochs raised as needed up to max_epochs (0 = no cap); time_budget_s cuts the steps
    # so the estimate fits and stops the loop at the budget (0 = none); evals_per_run > 0
    # spaces that many evals over the run instead of every eval_steps.
    min_steps: int = 0
    max_epochs: float = 0.0
    time_budget_s: float = 0.0
    evals_per_run: int = 0
    # Task metric at each eval (training/task_eval.py); the best checkpoint is chosen by it
    # instead of by eval loss. "" = loss only; "name_f1" = attribute generation's name F1.
    task_metric: str = ""
    task_eval_items: int = 24  # validation items generated per eval
    # Attribute generation: the trained version answers with this many of its dataset's most
    # similar examples before each question (lightdom_tui/fewshot.py; 0 = off). Recorded in
    # the version's prompt, so serving and evaluation render them; task evals use them too.
    fewshot_k: int = 0
    dtype: str = "auto"  # auto = bf16 on CUDA when supported, else fp32

    def validate(self) -> TrainConfig:
        """Reject impossible values with a message naming the field."""
        if self.method not in METHOD_VALUES:
            raise LightdomError(f"method '{self.method}': expected one of {', '.join(METHOD_VALUES)}")
        if self.schedule not in SCHEDULE_VALUES:
            raise LightdomError(f"schedule '{self.schedule}': expected one of {', '.join(SCHEDULE_VALUES)}")
        if self.truncation not in TRUNCATION_VALUES:
            raise LightdomError(f"truncation '{self.truncation}': expected one of {', '.join(TRUNCATION_VALUES)}")
        if self.dtype not in DTYPE_VALUES:
            raise LightdomError(f"dtype '{self.dtype}': expected one of {', '.join(DTYPE_VALUES)}")
        positive = ("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_seq_len", "save_steps", "eval_steps")
        for name in positive:
            if getattr(self, name) <= 0:
                raise LightdomError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.max_steps < 0 or self.epochs <= 0 and self.max_steps == 0:
            raise LightdomError("epochs/max_steps: give epochs > 0 or max_steps > 0")
        if not 0 <= self.lora_dropout < 1:
            raise LightdomError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if any(layer < 0 for layer in self.layers_to_transform):
            raise LightdomError(f"layers_to_transform: layer indices must be >= 0, got {self.layers_to_transform}")
        if self.task_metric not in TASK_METRIC_VALUES:
            raise LightdomError(f"task_metric '{self.task_metric}': expected one of {', '.join(map(repr, TASK_METRIC_VALUES))}")
        for name in ("min_steps", "max_epochs", "time_budget_s", "evals_per_run", "task_eval_items", "fewshot_k"):
            if getattr(self, name) < 0:
                raise LightdomError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise LightdomError(f"learning_rate: must be > 0, got {self.learning_rate}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (stored as TrainingRun.config_json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        """Build from a dict; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LightdomError(f"{where}: unknown training option(s) {', '.join(unknown)}")
        return cls(**data)

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the non-None overrides applied."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return TrainConfig.from_dict(data, where="overrides")


@dataclass
class TrainRequest:
    """What `lightdom train` asks for; None fields fall back to the preset / settings."""

    dataset: str  # NAME, NAME@VERSION or id
    base: str | None = None  # version name / alias / id, or a path (HF folder or .gguf)
    preset: str | None = None
    method: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    adapter_name: str | None = None  # registered version name; default <dataset>-<method>-r<run>
    force: bool = False  # start even when the memory estimate says it won't fit


@dataclass
class TrainResult:
    """Outcome of a run (also what `lightdom train --json` prints)."""

    run_id: int
    status: str
    adapter_version: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
