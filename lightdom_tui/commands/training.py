"""`lightdom train` and `lightdom runs list|show|resume|cancel`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lightdom_tui.commands._common import JsonOpt, emit, err_console, home_option, workspace_from
from lightdom_tui.errors import LightdomError

if TYPE_CHECKING:  # pragma: no cover
    from lightdom_tui.usecases.training import TrainingCallback


def register(app: typer.Typer) -> None:
    """Add `train` and the `runs` group to the root app."""
    app.command("train")(train)
    runs_app = typer.Typer(help="Training runs: list, show, resume after a crash, cancel.")
    runs_app.command("list")(runs_list)
    runs_app.command("show")(runs_show)
    runs_app.command("resume")(runs_resume)
    runs_app.command("cancel")(runs_cancel)
    app.add_typer(runs_app, name="runs")


def _progress_callback(quiet: bool) -> list[TrainingCallback]:
    """A rich progress bar on stderr (stdout stays one JSON object with --json)."""
    if quiet:
        return []
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lightdom_tui.usecases.training import StepMetrics, TrainingCallback

    class RichProgress(TrainingCallback):
        def __init__(self) -> None:
            self.progress = Progress(
                TextColumn("[bold]run {task.fields[run]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  eval {task.fields[eval]}  {task.fields[tps]} tok/s"),
                TimeRemainingColumn(),
                console=err_console,
                transient=False,
            )
            self.task: Any = None

        def on_start(self, run_id: int, total_steps: int, start_step: int) -> None:
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=total_steps, completed=start_step, run=run_id, loss="-", eval="-", tps="-"
            )

        def on_step(self, metrics: StepMetrics) -> None:
            fields = {"loss": f"{metrics.loss:.4f}", "tps": f"{metrics.tokens_per_sec:.0f}"}
            if metrics.eval_loss is not None:
                fields["eval"] = f"{metrics.eval_loss:.4f}"
            self.progress.update(self.task, completed=metrics.step, **fields)

        def on_end(self, status: str, metrics: dict[str, Any]) -> None:
            if self.task is not None:
                self.progress.stop()

    return [RichProgress()]


def _result_human(result: Any) -> Any:
    def human(console: Console) -> None:
        colour = {"completed": "green", "cancelled": "yellow"}.get(result.status, "red")
        console.print(f"run {result.run_id}: [bold {colour}]{result.status}[/]")
        if result.adapter_version:
            console.print(f"  adapter: {result.adapter_version}")
        for key in ("steps", "best_eval_loss", "tokens_per_sec", "truncated", "dropped_too_long"):
            if key in result.metrics:
                console.print(f"  {key}: {result.metrics[key]}")
        if result.next_command:
            console.print("next, export it to GGUF:", markup=False)
            console.print(f"  {result.next_command}", markup=False, soft_wrap=True)

    return human


def train(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset NAME, NAME@VERSION or id.")],
    base: Annotated[str | None, typer.Option("--base", help="Base model version/alias, or a path (HF folder or .gguf).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", "-p", help="Preset from presets.toml (default: settings).")] = None,
    method: Annotated[str | None, typer.Option("--method", help="qlora or lora.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    save_steps: Annotated[int | None, typer.Option("--save-steps")] = None,
    eval_steps: Annotated[int | None, typer.Option("--eval-steps")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr")] = None,
    max_seq_len: Annotated[int | None, typer.Option("--max-seq-len")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    patience: Annotated[int | None, typer.Option("--patience", help="Early stopping: evals without improvement.")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing", help="Pack examples, or group by length.")] = None,
    gradient_checkpointing: Annotated[bool | None, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the registered adapter version.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start even if the memory estimate says it won't fit.")] = False,
    export_script: Annotated[Path | None, typer.Option("--export-script", help="Write a standalone transformers/peft script + config to DIR and stop.")] = None,
    accelerate: Annotated[bool, typer.Option("--accelerate", help="Write an accelerate config and train through `accelerate launch`.")] = False,
    processes: Annotated[int | None, typer.Option("--processes", help="With --accelerate: processes to launch (default one per GPU; several on CPU run DDP over gloo).")] = None,
    json: JsonOpt = False,
) -> None:
    """Fine-tune a base model on a dataset version (LoRA / QLoRA), recording the run."""
    from lightdom_tui.usecases import training as uc

    workspace = workspace_from(ctx)
    home = home_option(ctx)
    overrides = {
        "max_steps": max_steps, "epochs": epochs, "save_steps": save_steps, "eval_steps": eval_steps,
        "learning_rate": learning_rate, "max_seq_len": max_seq_len, "batch_size": batch_size,
        "grad_accum": grad_accum, "lora_r": lora_r, "seed": seed, "early_stopping_patience": patience,
        "packing": packing, "gradient_checkpointing": gradient_checkpointing,
    }
    spec = uc.TrainingSpec(dataset=dataset, base=base, preset=preset, method=method, overrides=overrides,
                           adapter_name=name, force=force)
    if export_script is not None:
        exported = uc.export_training_script(workspace, spec, export_script)
        emit(exported, json, lambda c: c.print(f"wrote {exported.script} and {exported.config}"))
        return
    if processes is not None and not accelerate:
        raise LightdomError("--processes: only with --accelerate")
    if accelerate:
        result = uc.train_with_accelerate(workspace, spec, home=home, processes=processes)
        emit(result, json, _result_human(result))
        return
    if not json:
        # the memory estimate before the (possibly long) model load
        err_console.print(uc.plan_training(workspace, spec).summary(), markup=False)
    result = uc.train(workspace, spec, callbacks=_progress_callback(json), home=home)
    emit(result, json, _result_human(result))


def runs_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Training runs, newest first."""
    from lightdom_tui.usecases.training import list_runs

    runs = list_runs(workspace_from(ctx))

    def human(console: Console) -> None:
        table = Table("id", "status", "method", "preset", "step", "dataset", "adapter", "created")
        for run in runs:
            status = run.status + (" (process gone)" if run.status == "running" and not run.alive else "")
            table.add_row(str(run.id), status, run.method, run.preset or "", f"{run.step}/{run.total_steps or '?'}",
                          str(run.dataset_id), str(run.adapter_version_id or ""), run.created_at[:19])
        console.print(table)

    emit({"runs": runs}, json, human)


def runs_show(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")], json: JsonOpt = False) -> None:
    """A run's record, config and metric curve."""
    from lightdom_tui.usecases.training import show_run

    detail = show_run(workspace_from(ctx), run_id)

    def human(console: Console) -> None:
        console.print(f"run {detail.id}: [bold]{detail.status}[/] step {detail.step}/{detail.total_steps}")
        if detail.error:
            console.print(f"  error: {detail.error}")
        table = Table("step", "loss", "eval_loss", "lr", "grad_norm", "tok/s")
        for m in detail.metrics[-20:]:
            table.add_row(str(m["step"]), f"{m['loss']:.4f}", "" if m["eval_loss"] is None else f"{m['eval_loss']:.4f}",
                          f"{m['learning_rate']:.2e}", f"{m['grad_norm']:.3f}", f"{m['tokens_per_sec']:.0f}")
        console.print(table)

    emit(detail, json, human)


def runs_resume(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")], json: JsonOpt = False) -> None:
    """Continue a crashed, failed or cancelled run from its last checkpoint."""
    from lightdom_tui.usecases.training import resume_run

    result = resume_run(workspace_from(ctx), run_id, callbacks=_progress_callback(json), home=home_option(ctx))
    emit(result, json, _result_human(result))


def runs_cancel(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")], json: JsonOpt = False) -> None:
    """Ask a running run to stop at its next step (keeps its last checkpoint)."""
    from lightdom_tui.usecases.training import cancel_run

    summary = cancel_run(workspace_from(ctx), run_id)
    emit(summary, json, lambda c: c.print(f"run {summary.id}: cancel requested ({summary.status})"))
