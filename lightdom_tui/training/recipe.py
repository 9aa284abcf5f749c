"""A recipe that fits the data: the default preset per task type, steps scaled to the data, a time estimate.

`lightdom train` without ``--preset`` (settings ``training.preset = "auto"``) takes the
preset of the dataset's task type (``DEFAULT_PRESETS``). Such a preset sets
``min_steps`` (at least that many optimizer updates: epochs rise as needed, up to
``max_epochs``), ``time_budget_s`` (steps cut so the estimate fits; the loop also stops
at the budget and keeps the best checkpoint) and ``evals_per_run`` (eval cadence
derived from the step count). ``plan_recipe`` computes all of it before the model is
loaded, so the CLI and the TUI can show it before the run starts. No torch here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from lightdom_tui.prompts import ATTRIBUTE_TASK
from lightdom_tui.training.config import TrainConfig
from lightdom_tui.modelio.shape import ModelShape

AUTO_PRESET = "auto"
DEFAULT_PRESETS = {ATTRIBUTE_TASK: "attributes-default"}
FALLBACK_PRESET = "chat-default"
# Measured (experiments/RESULTS.md, exp5): 1.1 CPU s per 195-token example for SmolLM2-135M
# with adapters on the top 10 of 30 layers, one thread: ~80 GFLOP/s per CPU thread.
CPU_FLOPS_PER_THREAD = 8.0e10
CUDA_FLOPS = 2.0e13  # a conservative mid-range GPU at fp32/bf16 mixed utilisation
# Greedy decoding runs at a small share of matmul throughput. Measured (bench/generalisation.py,
# 2 threads): 24 answers with three remembered examples (~1,150-token prompts) took ~150 s.
DECODE_OVERHEAD = 2.6


def default_preset(task_types: list[str]) -> str:
    """The preset for a dataset holding ``task_types`` (the most specific one wins)."""
    for task_type in task_types:
        if task_type in DEFAULT_PRESETS:
            return DEFAULT_PRESETS[task_type]
    return FALLBACK_PRESET


@dataclass
class RecipePlan:
    """Steps, epochs, eval cadence and the wall-time estimate of a run, decided before it starts."""

    steps: int
    epochs: float
    steps_per_epoch: float
    eval_steps: int
    estimated_seconds: float
    budget_limited: bool

    def summary(self) -> str:
        """One line for the CLI / TUI confirmation."""
        minutes = self.estimated_seconds / 60
        budget = " (cut to the time budget)" if self.budget_limited else ""
        return (f"{self.steps} optimizer steps ≈ {self.epochs:.1f} epochs, eval every {self.eval_steps} steps, "
                f"about {minutes:.0f} min{budget}")


def steps_for(config: TrainConfig, n_batches: int) -> tuple[int, float]:
    """(optimizer steps, epochs) for ``n_batches`` micro-batches per epoch.

    ``max_steps`` wins; else ``epochs``, raised until ``min_steps`` updates happen, but not
    past ``max_epochs`` (small data gets more passes, large data keeps its epochs).
    """
    per_epoch = max(n_batches, 1) / config.grad_accum
    if config.max_steps > 0:
        return config.max_steps, config.max_steps / per_epoch
    epochs = config.epochs
    if config.min_steps > epochs * per_epoch:
        epochs = config.min_steps / per_epoch
        if config.max_epochs > 0:
            epochs = min(epochs, max(config.max_epochs, config.epochs))
    return max(1, math.ceil(epochs * per_epoch)), epochs


def seconds_per_step(config: TrainConfig, shape: ModelShape, tokens_per_example: float, device: str) -> float:
    """Estimated wall seconds of one optimizer step: FLOPs / an assumed device throughput.

    Forward is 2 FLOPs per parameter and token; backward 4, but only through the layers
    from the lowest adapted one up (``layers_to_transform``), which is why top-layer
    adapters are the CPU lever.
    """
    lowest = min(config.layers_to_transform) if config.layers_to_transform else 0
    backward_share = max(0.0, (shape.layers - lowest) / max(shape.layers, 1))
    flops_per_token = shape.n_params * (2 + 4 * backward_share)
    tokens = tokens_per_example * config.batch_size * config.grad_accum
    if device == "cuda":
        throughput = CUDA_FLOPS
    else:
        throughput = CPU_FLOPS_PER_THREAD * max(1, os.cpu_count() or 1) ** 0.7  # threads scale sub-linearly
    return flops_per_token * tokens / throughput


def seconds_per_task_eval(config: TrainConfig, shape: ModelShape, tokens_per_example: float, device: str) -> float:
    """Estimated wall seconds of one task-metric eval: ``task_eval_items`` greedy answers, each
    a prompt of about ``tokens_per_example`` tokens and its answer decoded token by token,
    which costs ``DECODE_OVERHEAD`` times its FLOPs (small batched steps, a growing cache)."""
    if not config.task_metric:
        return 0.0
    throughput = CUDA_FLOPS if device == "cuda" else CPU_FLOPS_PER_THREAD * max(1, os.cpu_count() or 1) ** 0.7
    return config.task_eval_items * tokens_per_example * 2 * shape.n_params * DECODE_OVERHEAD / throughput


def plan_recipe(config: TrainConfig, shape: ModelShape, n_train: int, tokens_per_example: float,
                device: str) -> RecipePlan:
    """Steps (scaled to ``n_train`` examples), eval cadence and time estimate for ``config``;
    the time budget covers the steps and the task-metric evals."""
    if config.packing:
        n_batches = math.ceil(n_train * tokens_per_example / (config.max_seq_len * config.batch_size))
    else:
        n_batches = math.ceil(n_train / config.batch_size)
    steps, epochs = steps_for(config, n_batches)
    per_step = seconds_per_step(config, shape, tokens_per_example, device)
    evals = config.evals_per_run if config.evals_per_run > 0 else math.ceil(steps / max(config.eval_steps, 1))
    eval_seconds = evals * seconds_per_task_eval(config, shape, tokens_per_example, device)
    limited = False
    if config.time_budget_s > 0 and config.max_steps <= 0 and steps * per_step + eval_seconds > config.time_budget_s:
        steps, limited = max(1, int(max(config.time_budget_s - eval_seconds, per_step) / per_step)), True
    per_epoch = max(n_batches, 1) / config.grad_accum
    eval_steps = eval_every(config, steps)
    return RecipePlan(steps=steps, epochs=steps / per_epoch, steps_per_epoch=per_epoch, eval_steps=eval_steps,
                      estimated_seconds=steps * per_step + eval_seconds, budget_limited=limited)


def eval_every(config: TrainConfig, steps: int) -> int:
    """Eval cadence: ``evals_per_run`` evenly spaced evals when set, else ``eval_steps``."""
    if config.evals_per_run > 0:
        return max(1, math.ceil(steps / config.evals_per_run))
    return config.eval_steps
