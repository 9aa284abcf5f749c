"""The training loop: LoRA / QLoRA on a base model, resumable, cancellable, measured.

Reads top-down like a nanoGPT/torchtune recipe:

    train()         resolve config, dataset and base; check memory; create the run record
    run_training()  load model + data, restore a checkpoint, loop, register the adapter
    train_step()    one optimizer step over ``grad_accum`` micro-batches
    evaluate()      mean loss over the validation split

Loss is the mean over assistant tokens of a whole optimizer step (summed over
micro-batches, divided once by their label-token count), so gradient accumulation
and packing don't change the objective.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Dataset, TrainingRun, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_TASK
from lightdom_tui.modelio.load import (
    BaseModelRef,
    default_device,
    inspect_base,
    load_base,
    resolve_base,
    trainable_folder,
)
from lightdom_tui.training.callbacks import DatabaseMetrics, StepMetrics, TrainingCallback, emit
from lightdom_tui.training.checkpoints import LoopState, latest_checkpoint, load_checkpoint, save_checkpoint
from lightdom_tui.training.config import TrainConfig, TrainRequest, TrainResult
from lightdom_tui.training.data import PreparedData, TrainingMemory, get_dataset, prepare_data
from lightdom_tui.training.memory import MemoryEstimate, available_memory, check_fits, estimate_memory
from lightdom_tui.training.packing import Batch, BatchPlan, build_plan
from lightdom_tui.training.presets import get_preset
from lightdom_tui.training.recipe import AUTO_PRESET, RecipePlan, default_preset, eval_every, plan_recipe, steps_for
from lightdom_tui.training.render import IGNORE_INDEX
from lightdom_tui.training.runs import delete_metrics_after, get_run, is_cancel_requested, library_versions, run_meta, update_meta
from lightdom_tui.workspace import Workspace

ADAPTER_META_FILE = "lightdom_adapter.json"


# --------------------------------------------------------------------------- set-up


def resolve_config(workspace: Workspace, request: TrainRequest) -> tuple[TrainConfig, str]:
    """Preset (request, else settings; ``auto`` = the default recipe of the dataset's task type)
    + method + per-field overrides, validated."""
    preset_name = request.preset or workspace.settings.training.preset
    auto = preset_name == AUTO_PRESET
    if auto:
        from lightdom_tui.curation.datasets import dataset_prompts

        with workspace.session() as session:
            preset_name = default_preset(list(dataset_prompts(get_dataset(session, request.dataset))))
    config = get_preset(preset_name).config
    overrides = dict(request.overrides)
    if request.method:
        overrides["method"] = request.method
    elif "method" not in overrides and not request.preset and not auto:
        overrides["method"] = workspace.settings.training.method  # the settings' default preset + method
    config = config.with_overrides(**overrides)
    return config.validate(), preset_name


def plan_memory(base: BaseModelRef, config: TrainConfig, device: str) -> MemoryEstimate:
    """The memory estimate for this base, config and device."""
    return estimate_memory(inspect_base(base.path), config, device, available_memory(device))


def plan_steps(workspace: Workspace, dataset: Dataset, config: TrainConfig, base: BaseModelRef,
               device: str) -> RecipePlan:
    """Steps, epochs, eval cadence and time estimate before the model loads (from stored token counts)."""
    from sqlalchemy import func
    from sqlmodel import select

    from lightdom_tui.db.models import DatasetItem, Example

    with workspace.session() as session:
        n_train, tokens = session.exec(
            select(func.count(), func.avg(Example.token_count)).join(DatasetItem, DatasetItem.example_id == Example.id)
            .where(DatasetItem.dataset_id == dataset.id, DatasetItem.split == "train")).one()
    # + chat template tokens; with memory each example also carries up to fewshot_k others
    per_example = min(float(tokens or 200) * 1.15 * (1 + config.fewshot_k), config.max_seq_len)
    return plan_recipe(config, inspect_base(base.path), int(n_train or 0), per_example, device)


def _ensure_base_version(workspace: Workspace, base: BaseModelRef) -> int:
    """A path given as base is registered (kind base) so the adapter's lineage has a parent."""
    if base.version is not None:
        assert base.version.id is not None
        return base.version.id
    from lightdom_tui.registry.versions import register_version, unique_version_name

    with workspace.session() as session:
        record = register_version(
            session,
            version=unique_version_name(session, base.path.stem),
            kind="base",
            format="gguf" if base.is_gguf else "hf",
            path=base.path,
            architecture=inspect_base(base.path).architecture,
            notes="registered by `lightdom train`",
        )
        assert record.id is not None
        return record.id


@dataclass
class RunPlan:
    """A request resolved before anything loads: config, preset, dataset, base, device, memory estimate."""

    config: TrainConfig
    preset: str
    dataset: Dataset
    base: BaseModelRef
    device: str
    estimate: MemoryEstimate
    recipe: RecipePlan | None = None  # steps / epochs / eval cadence / time estimate

    def recipe_meta(self) -> dict[str, Any]:
        """The recipe as stored in the run's meta (``recipe``)."""
        r = self.recipe
        if r is None:
            return {}
        return {"steps": r.steps, "epochs": round(r.epochs, 3), "eval_steps": r.eval_steps,
                "estimated_seconds": round(r.estimated_seconds, 1), "budget_limited": r.budget_limited,
                "summary": r.summary()}


def plan_run(workspace: Workspace, request: TrainRequest) -> RunPlan:
    """The one pre-check of a training request (the CLI, the TUI and ``create_run`` all use it)."""
    config, preset = resolve_config(workspace, request)
    with workspace.session() as session:
        dataset = get_dataset(session, request.dataset)
    base = resolve_base(workspace, request.base or workspace.settings.training.base)
    device = default_device()
    return RunPlan(config, preset, dataset, base, device, plan_memory(base, config, device),
                   plan_steps(workspace, dataset, config, base, device))


def create_run(workspace: Workspace, request: TrainRequest, launcher: str = "loop") -> int:
    """Resolve and check a request (memory included) and record a queued TrainingRun."""
    plan = plan_run(workspace, request)
    config, preset, dataset, base, device, estimate = (plan.config, plan.preset, plan.dataset, plan.base,
                                                       plan.device, plan.estimate)
    check_fits(estimate, force=request.force)
    base_id = _ensure_base_version(workspace, base)
    with workspace.session() as session:
        run = TrainingRun(
            status="queued",
            dataset_id=dataset.id,
            base_version_id=base_id,
            method=config.method,
            preset=preset,
            seed=config.seed,
            library_versions_json=dumps(library_versions()),
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        run.output_dir = str(workspace.runs_dir / str(run.id))
        update_meta(
            session,
            run,
            train=config.to_dict(),
            adapter_name=request.adapter_name,
            device=device,
            launcher=launcher,
            recipe=plan.recipe_meta(),
            memory_estimate={"needed_bytes": estimate.needed_bytes, "available_bytes": estimate.available_bytes,
                             "breakdown": estimate.breakdown, "summary": estimate.summary()},
        )
        return run.id


def train(workspace: Workspace, request: TrainRequest, callbacks: list[TrainingCallback] | None = None) -> TrainResult:
    """Create a TrainingRun for ``request`` and run it to the end in this process."""
    run_id = create_run(workspace, request)
    return run_training(workspace, run_id, callbacks=callbacks)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def attach_lora(model: Any, config: TrainConfig) -> Any:
    """Wrap ``model`` with LoRA adapters (after k-bit preparation for QLoRA)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = {"use_reentrant": False}
    if config.method == "qlora":
        with warnings.catch_warnings():
            # peft still asks transformers' deprecated `is_gradient_checkpointing`; the
            # warning would land in the middle of the progress bar and means nothing here.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=config.gradient_checkpointing,
                gradient_checkpointing_kwargs=checkpointing,
            )
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    model.config.use_cache = False
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        layers_to_transform=list(config.layers_to_transform) or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def total_steps(config: TrainConfig, n_batches: int, recipe: dict[str, Any] | None = None) -> int:
    """Optimizer steps of the run: ``max_steps``, else epochs (raised to ``min_steps`` updates)
    × micro-batches / grad_accum, cut to the planned steps when the time budget limited them."""
    steps, _ = steps_for(config, n_batches)
    if recipe and recipe.get("budget_limited") and config.max_steps <= 0:
        steps = min(steps, int(recipe["steps"]))
    return steps


def make_optimizer(model: Any, config: TrainConfig, steps: int) -> tuple[Any, Any]:
    """AdamW over the adapter parameters and the configured LR schedule."""
    import torch
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = config.warmup_steps or int(config.warmup_ratio * steps)
    name = "constant_with_warmup" if config.schedule == "constant" else config.schedule
    return optimizer, get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=steps)


# --------------------------------------------------------------------------- the loop


def loss_sum(model: Any, batch: Batch, device: Any) -> Any:
    """Summed next-token cross-entropy over the batch's labelled tokens."""
    import torch.nn.functional as F

    logits = model(
        input_ids=batch.input_ids.to(device), position_ids=batch.position_ids.to(device), use_cache=False
    ).logits
    labels = batch.labels.to(device)
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def train_step(model: Any, batches: list[Batch], optimizer: Any, scheduler: Any, config: TrainConfig, device: Any) -> tuple[float, float]:
    """One optimizer step over ``batches``; returns (mean loss per label token, grad norm)."""
    import torch

    model.train()
    n_labels = max(1, sum(b.n_label_tokens for b in batches))
    total = 0.0
    for batch in batches:
        summed = loss_sum(model, batch, device)
        (summed / n_labels).backward()
        total += float(summed.detach())
    params = [p for p in model.parameters() if p.requires_grad]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return total / n_labels, float(grad_norm)


def evaluate(model: Any, plan: BatchPlan, device: Any, max_batches: int = 0) -> float:
    """Mean loss per label token over the validation plan (all of it unless ``max_batches``)."""
    import torch

    model.eval()
    total, n_labels = 0.0, 0
    count = plan.n_batches if max_batches <= 0 else min(max_batches, plan.n_batches)
    with torch.no_grad():
        for index in range(count):
            batch = plan.batch(index)
            total += float(loss_sum(model, batch, device))
            n_labels += batch.n_label_tokens
    model.train()
    return total / max(1, n_labels)


def _set_status(workspace: Workspace, run_id: int, status: str, **fields: Any) -> None:
    with workspace.session() as session:
        run = get_run(session, run_id)
        run.status = status
        for key, value in fields.items():
            setattr(run, key, value)
        if status in ("completed", "failed", "cancelled"):
            run.finished_at = utcnow()
        session.add(run)


def _load_run(workspace: Workspace, run_id: int) -> tuple[TrainingRun, Dataset, TrainConfig, dict[str, Any]]:
    with workspace.session() as session:
        run = get_run(session, run_id)
        meta = run_meta(run)
        dataset = session.get(Dataset, run.dataset_id) if run.dataset_id else None
        if dataset is None:
            raise LightdomError(f"run {run_id}: its dataset no longer exists")
        return run, dataset, TrainConfig.from_dict(meta["train"]).validate(), meta


def _base_of_run(workspace: Workspace, run: TrainingRun) -> BaseModelRef:
    from lightdom_tui.db.models import ModelVersion

    with workspace.session() as session:
        version = session.get(ModelVersion, run.base_version_id) if run.base_version_id else None
    if version is None:
        raise LightdomError(f"run {run.id}: its base model version no longer exists")
    return resolve_base(workspace, version.version)


def run_training(
    workspace: Workspace, run_id: int, callbacks: list[TrainingCallback] | None = None, resume: bool = False
) -> TrainResult:
    """Train run ``run_id`` (from its last checkpoint when ``resume``) and register the adapter."""
    run, dataset, config, meta = _load_run(workspace, run_id)
    run_dir = Path(run.output_dir or workspace.runs_dir / str(run_id))
    callbacks = [DatabaseMetrics(workspace, run_id), *(callbacks or [])]
    _set_status(workspace, run_id, "running", pid=os.getpid(), started_at=run.started_at or utcnow(), error=None)
    try:
        result = _train_loop(workspace, run, dataset, config, meta, run_dir, callbacks, resume)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, LightdomError) else f"{type(exc).__name__}: {exc}"
        _set_status(workspace, run_id, "failed", error=message[:2000])
        emit(callbacks, "on_end", "failed", {"error": message})
        raise
    emit(callbacks, "on_end", result.status, result.metrics)
    return result


def _prepare(workspace: Workspace, run: TrainingRun, dataset: Dataset, config: TrainConfig) -> tuple[Any, Any, PreparedData, Any]:
    """Model with adapters, tokenizer, rendered data and the torch device."""
    import torch

    base = _base_of_run(workspace, run)
    device = default_device()
    folder = trainable_folder(workspace, base)
    # fp32 on CPU; on CUDA bf16 where supported ("auto") unless the config pins a dtype.
    dtype = None if config.dtype == "auto" and device == "cuda" else getattr(torch, config.dtype, torch.float32)
    if device == "cpu":
        dtype = torch.float32
    model, tokenizer = load_base(folder, dtype=dtype, quantize_4bit=config.method == "qlora", device=device)
    model = attach_lora(model, config)
    with workspace.session() as session:
        data = prepare_data(session, dataset, tokenizer, config.max_seq_len, config.truncation, config.fewshot_k)
    return model, tokenizer, data, torch.device(device)


def _train_loop(
    workspace: Workspace,
    run: TrainingRun,
    dataset: Dataset,
    config: TrainConfig,
    meta: dict[str, Any],
    run_dir: Path,
    callbacks: list[TrainingCallback],
    resume: bool,
) -> TrainResult:
    assert run.id is not None
    _seed_everything(config.seed)
    model, tokenizer, data, device = _prepare(workspace, run, dataset, config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    plan = build_plan(data.train, max_len=config.max_seq_len, batch_size=config.batch_size, packing=config.packing, pad_id=pad_id)
    eval_plan = build_plan(data.validation, max_len=config.max_seq_len, batch_size=config.batch_size, packing=config.packing, pad_id=pad_id) if data.validation else None
    steps = total_steps(config, plan.n_batches, meta.get("recipe"))
    every = eval_every(config, steps)
    task_items = _task_items(workspace, dataset, config, data.memory)
    optimizer, scheduler = make_optimizer(model, config, steps)
    state = LoopState()
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
    if resume:
        delete_metrics_after(workspace, run.id, state.step)
    with workspace.session() as session:
        record = get_run(session, run.id)
        record.total_steps = steps
        update_meta(session, record, data={k: asdict(v) for k, v in data.stats.items()},
                    plan={"rows": len(plan.rows), "micro_batches_per_epoch": plan.n_batches,
                          "packing": config.packing, "fill": _fill(plan, config.max_seq_len)})
    emit(callbacks, "on_start", run.id, steps, state.step)
    stream = plan.stream(config.seed, start=state.micro_batches)
    status = "completed"
    last_saved = state.step if checkpoint is not None else -1
    last_eval_seconds = 0.0
    while state.step < steps and not state.early_stopped:
        if is_cancel_requested(workspace, run.id):
            status = "cancelled"
            break
        started, started_cpu = time.perf_counter(), time.process_time()
        batches = [next(stream) for _ in range(config.grad_accum)]
        loss, grad_norm = train_step(model, batches, optimizer, scheduler, config, device)
        elapsed = time.perf_counter() - started
        state.step += 1
        state.micro_batches += len(batches)
        state.tokens_seen += sum(b.n_tokens for b in batches)
        state.label_tokens_seen += sum(b.n_label_tokens for b in batches)
        state.train_seconds += elapsed
        state.train_cpu_seconds += time.process_time() - started_cpu
        metrics = StepMetrics(
            step=state.step,
            total_steps=steps,
            epoch=state.micro_batches / plan.n_batches,
            loss=loss,
            learning_rate=float(scheduler.get_last_lr()[0]),
            grad_norm=grad_norm,
            tokens_per_sec=sum(b.n_tokens for b in batches) / max(elapsed, 1e-9),
        )
        # The budget is the user's wall clock for the whole run: steps, evals and the closing eval
        # (as long as the last one took: it tracks what the machine gives now).
        spent = state.train_seconds + state.eval_seconds + last_eval_seconds
        over_budget = bool(config.time_budget_s) and spent >= config.time_budget_s
        if eval_plan is not None and (state.step % every == 0 or state.step == steps or over_budget):
            eval_started = time.perf_counter()
            _eval_and_track(model, eval_plan, device, config, state, metrics, run_dir, tokenizer, task_items)
            last_eval_seconds = time.perf_counter() - eval_started
            state.eval_seconds += last_eval_seconds
            if metrics.task_score is not None:
                _record_task_eval(workspace, run.id, state.step, metrics, best=state.best_step == state.step)
        emit(callbacks, "on_step", metrics)
        if over_budget:
            state.early_stopped = True  # the user's time budget: stop here, the best checkpoint is kept
        if state.step % config.save_steps == 0 or state.early_stopped:
            emit(callbacks, "on_checkpoint", state.step, save_checkpoint(run_dir, model, optimizer, scheduler, state))
            last_saved = state.step
        if state.early_stopped:
            break
    if last_saved != state.step:  # final (or cancel-time) checkpoint
        emit(callbacks, "on_checkpoint", state.step, save_checkpoint(run_dir, model, optimizer, scheduler, state))
    summary = _summary(state, data, steps)
    if status == "cancelled":
        _finish(workspace, run.id, "cancelled", summary)
        return TrainResult(run.id, "cancelled", None, summary)
    version = register_adapter(workspace, run, dataset, config, meta, model, tokenizer, run_dir, state, summary)
    return TrainResult(run.id, "completed", version, summary)


def _fill(plan: BatchPlan, max_len: int) -> float:
    """Share of row capacity holding real tokens (1.0 = no padding at all)."""
    used = sum(len(plan.examples[i]) for row in plan.rows for i in row)
    return round(used / max(1, len(plan.rows) * max_len), 4)


def _task_items(workspace: Workspace, dataset: Dataset, config: TrainConfig,
                memory: TrainingMemory | None) -> list[Any]:
    """Validation prompts + reference names for the task metric (empty when the config has none),
    asked with ``memory`` (the one prepare_data built) when the recipe has one."""
    if not config.task_metric:
        return []
    from lightdom_tui.fewshot import with_shots
    from lightdom_tui.training.data import dataset_rows
    from lightdom_tui.training.task_eval import attribute_items

    assert dataset.id is not None
    with workspace.session() as session:
        rows = dataset_rows(session, dataset.id, "validation")
        conversations = [messages for example, messages in rows if example.task_type == ATTRIBUTE_TASK]
        if memory is not None:  # ask the way the version will be served: its remembered examples first
            topics = [loads(example.metadata_json, {}).get("topic") for example, _ in rows
                      if example.task_type == ATTRIBUTE_TASK]
            conversations = [with_shots(m, t, memory.index, memory.prompts, memory.k)
                             for m, t in zip(conversations, topics, strict=True)]
    return attribute_items(conversations, config.task_eval_items)


def _record_task_eval(workspace: Workspace, run_id: int, step: int, metrics: StepMetrics, best: bool) -> None:
    """Append the eval's task score to the run's meta (``task_evals``) for the CLI and the training
    pane; ``best``: its checkpoint is now the one the run keeps."""
    with workspace.session() as session:
        record = get_run(session, run_id)
        history = list(run_meta(record).get("task_evals", []))
        history.append({"step": step, "name_f1": metrics.task_score, "eval_loss": metrics.eval_loss, "best": best})
        update_meta(session, record, task_evals=history)


def _eval_and_track(model: Any, plan: BatchPlan, device: Any, config: TrainConfig, state: LoopState,
                    metrics: StepMetrics, run_dir: Path, tokenizer: Any = None,
                    task_items: list[Any] | None = None) -> None:
    """Evaluate, keep the best adapter (by the task metric when the config names one and the
    split has items, else by eval loss), and count evals without improvement (early stopping)."""
    eval_loss = evaluate(model, plan, device, config.max_eval_batches)
    metrics.eval_loss = eval_loss
    metrics.perplexity = math.exp(min(eval_loss, 50.0))
    if task_items:
        from lightdom_tui.training.task_eval import name_f1

        metrics.task_score = name_f1(model, tokenizer, task_items, device).f1
        best_score = state.best_task_score
        improved = best_score is None or metrics.task_score > best_score + config.early_stopping_min_delta
    else:
        best = state.best_eval_loss
        improved = best is None or eval_loss < best - config.early_stopping_min_delta
    if improved:
        state.best_eval_loss, state.best_step, state.evals_without_improvement = eval_loss, state.step, 0
        state.best_task_score = metrics.task_score
        _save_best_adapter(model, run_dir)
    else:
        state.evals_without_improvement += 1
        if config.early_stopping_patience and state.evals_without_improvement >= config.early_stopping_patience:
            state.early_stopped = True


def _save_best_adapter(model: Any, run_dir: Path) -> None:
    target, tmp = run_dir / "best-adapter", run_dir / ".best-adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    except Exception as exc:  # OSError or SafetensorError (e.g. disk full)
        shutil.rmtree(tmp, ignore_errors=True)
        raise LightdomError(f"best adapter {target}: could not be written ({exc})") from exc


def _summary(state: LoopState, data: PreparedData, steps: int) -> dict[str, Any]:
    train_stats, val_stats = data.stats["train"], data.stats["validation"]
    return {
        "steps": state.step,
        "total_steps": steps,
        "tokens_seen": state.tokens_seen,
        "label_tokens_seen": state.label_tokens_seen,
        "train_seconds": round(state.train_seconds, 3),
        "train_cpu_seconds": round(state.train_cpu_seconds, 3),
        "eval_seconds": round(state.eval_seconds, 3),
        "tokens_per_sec": round(state.tokens_seen / state.train_seconds, 1) if state.train_seconds else None,
        "best_eval_loss": state.best_eval_loss,
        "best_step": state.best_step,
        "best_task_score": state.best_task_score,
        "best_perplexity": math.exp(min(state.best_eval_loss, 50.0)) if state.best_eval_loss is not None else None,
        "early_stopped": state.early_stopped,
        "train_examples": train_stats.used,
        "validation_examples": val_stats.used,
        "truncated": train_stats.truncated + val_stats.truncated,
        "dropped_too_long": train_stats.dropped_too_long + val_stats.dropped_too_long,
        "dropped_no_assistant": train_stats.dropped_no_assistant + val_stats.dropped_no_assistant,
        "render_errors": train_stats.render_errors + val_stats.render_errors,
        "remembered": train_stats.remembered,  # train examples asked with their nearest others first
    }


def _finish(workspace: Workspace, run_id: int, status: str, summary: dict[str, Any], **fields: Any) -> None:
    with workspace.session() as session:
        run = get_run(session, run_id)
        update_meta(session, run, summary=summary)
        run.status, run.finished_at = status, utcnow()
        for key, value in fields.items():
            setattr(run, key, value)
        session.add(run)


# --------------------------------------------------------------------------- the result


def register_adapter(
    workspace: Workspace,
    run: TrainingRun,
    dataset: Dataset,
    config: TrainConfig,
    meta: dict[str, Any],
    model: Any,
    tokenizer: Any,
    run_dir: Path,
    state: LoopState,
    summary: dict[str, Any],
) -> str:
    """Write the adapter (the best by eval loss when there was an eval) and publish it."""
    assert run.id is not None
    name = adapter_name(workspace, run, dataset, config, meta)
    tmp = workspace.models_dir / "adapters" / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    best = run_dir / "best-adapter"
    try:
        if state.best_step is not None and best.is_dir():
            shutil.copytree(best, tmp)
        else:
            model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    except Exception as exc:  # OSError or SafetensorError (e.g. disk full)
        shutil.rmtree(tmp, ignore_errors=True)
        raise LightdomError(f"adapter {tmp}: could not be written ({exc})") from exc
    extra = {"adapter_step": state.best_step or state.step}
    return publish_adapter(workspace, run, dataset, config, tmp, name, summary, model.config.model_type, extra)


def adapter_name(workspace: Workspace, run: TrainingRun, dataset: Dataset, config: TrainConfig, meta: dict[str, Any]) -> str:
    """The requested adapter version name, else ``<dataset>-v<version>-<method>-run<id>`` (made unique)."""
    from lightdom_tui.registry.versions import unique_version_name

    with workspace.session() as session:
        return meta.get("adapter_name") or unique_version_name(
            session, f"{dataset.name}-v{dataset.version}-{config.method}-run{run.id}"
        )


def publish_adapter(
    workspace: Workspace,
    run: TrainingRun,
    dataset: Dataset,
    config: TrainConfig,
    folder: Path,
    name: str,
    summary: dict[str, Any],
    architecture: str | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Move a finished adapter ``folder`` to models/adapters/<name> and register it with its
    lineage (base version, run, dataset + manifest hash, metrics, the dataset's prompts); the
    run is marked completed in the same transaction. On any failure nothing stays registered
    and no adapter folder is left behind."""
    from lightdom_tui.registry.versions import register_version

    assert run.id is not None
    target = workspace.models_dir / "adapters" / name
    lineage = {"run_id": run.id, "base_version_id": run.base_version_id, "dataset_id": dataset.id,
               "dataset": f"{dataset.name}@{dataset.version}", "manifest_hash": dataset.manifest_hash,
               "config": config.to_dict(), **(extra or {})}
    try:
        (folder / ADAPTER_META_FILE).write_text(dumps(lineage), encoding="utf-8")
        if target.exists():
            raise LightdomError(f"adapter folder {target}: already exists")
        folder.replace(target)
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise LightdomError(f"adapter {target}: could not be written ({exc})") from exc
    metrics = {**summary, "dataset": f"{dataset.name}@{dataset.version}", "manifest_hash": dataset.manifest_hash}
    prompts = loads(dataset.prompts_json, {})
    if config.fewshot_k and isinstance(prompts.get(ATTRIBUTE_TASK), dict):  # the dataset becomes its memory
        prompts[ATTRIBUTE_TASK] = {**prompts[ATTRIBUTE_TASK], "fewshot": config.fewshot_k, "memory_dataset": dataset.id}
    try:
        with workspace.session() as session:
            version = register_version(
                session,
                version=name,
                kind="adapter",
                format="peft",
                path=target,
                architecture=architecture,
                parent_id=run.base_version_id,
                run_id=run.id,
                dataset_id=dataset.id,
                metrics=metrics,
                prompts=prompts,
                notes=f"LoRA adapter from run {run.id} ({config.method}, r={config.lora_r})",
            )
            record = get_run(session, run.id)
            update_meta(session, record, summary=summary)
            record.status, record.finished_at, record.adapter_version_id = "completed", utcnow(), version.id
            session.add(record)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return name
