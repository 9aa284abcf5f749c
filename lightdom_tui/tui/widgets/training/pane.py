"""Training runs pane: runs with status, start (with the recipe plan and a memory estimate; in this process or
through accelerate launch), live progress, loss plot and validation name F1, tokens/s, cancel and resume, log
tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Log, ProgressBar, Static

from lightdom_tui.errors import LightdomError
from lightdom_tui.safetext import markup_safe
from lightdom_tui.tui.messages import (
    DataChanged,
    Notice,
    RunsLoaded,
    TrainingChoicesLoaded,
    TrainingFinished,
    TrainingPlanned,
)
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.widgets.pane import Pane
from lightdom_tui.tui.widgets.training.plot import LossPlot
from lightdom_tui.tui.widgets.training.scores import plan_line, score_line

POLL_S = 1.0
LOG_LINES = 200
ACCELERATE = "accelerate launch"  # `lightdom train --accelerate`: a written accelerate config, then the launch
LAUNCHES = ("this process", ACCELERATE)
ACCELERATE_LIST_S = 3.0  # list the runs again once the launch has recorded its run
YES_NO = ("yes", "no")


class MetricsUpdated(Message):
    """A fresh read of one run (status + metric rows); a newer one replaces a queued older one."""

    def __init__(self, detail: Any) -> None:
        super().__init__()
        self.detail = detail

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsUpdated) and message.detail.id == self.detail.id


def _finished_text(done: Any) -> str:
    """How a run ended and, when it made an adapter, the exact command that exports it."""
    text = f"run #{done.run_id} {done.status}" + (f": adapter {done.adapter_version}" if done.adapter_version else "")
    return text + (f"\nnext: {done.next_command}" if done.next_command else "")


def _fmt(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "–"


def log_lines(detail: Any) -> list[str]:
    """The run's log tail: its log files when it has some, else its status and metric lines."""
    lines = [f"run #{detail.id} {detail.status} · preset {detail.preset} · method {detail.method}"]
    if detail.output_dir and Path(detail.output_dir).is_dir():
        for log in sorted(Path(detail.output_dir).rglob("*.log")):
            lines += [f"[{log.name}] {line}" for line in log.read_text(errors="replace").splitlines()[-50:]]
    for row in detail.metrics[-LOG_LINES:]:
        lines.append(
            f"step {row['step']:>5}  loss {_fmt(row.get('loss'))}  eval {_fmt(row.get('eval_loss'))}  "
            f"lr {_fmt(row.get('learning_rate'), '.2e')}  tok/s {_fmt(row.get('tokens_per_sec'), '.0f')}"
        )
    if detail.error:
        lines.append(f"error: {detail.error}")
    return lines


NARROW_WIDTH = 100  # below this the runs table takes three fifths of the width, not two


class TrainingPane(Pane):
    """Fine-tuning runs; the selected one is followed live."""

    BINDINGS = [
        Binding("n", "start", "Start run…", id="training.start"),
        Binding("c", "cancel", "Cancel run", id="training.cancel"),
        Binding("r", "resume", "Resume run", id="training.resume"),
        Binding("ctrl+r", "reload", "Reload", id="training.reload", show=False),
    ]

    def __init__(self, workspace, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(workspace, **kwargs)
        self.followed: int | None = None
        self._followed_status: str | None = None
        self._loaded_once = False
        self._log_count = 0

    def compose_pane(self) -> ComposeResult:
        with Horizontal():
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            with Vertical(id="run-side"):
                yield Static("[dim]select a run, or n to start one[/dim]", id="run-stats")
                yield ProgressBar(total=1, id="run-progress", show_eta=True)
                yield LossPlot(id="loss-plot")
                log = Log(id="run-log", max_lines=LOG_LINES + 60)
                log.border_title = "log"
                yield log

    def on_resize(self, event: events.Resize) -> None:
        """Narrow windows give the runs table more of the width, so run, status, preset and step stay whole."""
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def on_built(self) -> None:
        table = self.query_one("#runs", DataTable)
        for column in ("run", "status", "preset", "step", "created"):
            table.add_column(column, key=column)  # keyed: rows are updated in place
        table.border_title = "runs"

    def on_shown(self) -> None:
        if not self._loaded_once:
            self._loaded_once = True
            self.refresh_data()
            self._poll()

    def focus_main(self) -> None:
        if self.built:
            self.query_one("#runs").focus()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Start a training run…", "n: dataset, base, preset, hyper-parameters, accelerate launch or script "
             "export; the plan and memory estimate first", "start"),
            ("Cancel the selected run", "c", "cancel"),
            ("Resume the selected run", "r: from its last checkpoint", "resume"),
        ]

    def refresh_data(self) -> None:
        if self.built:
            self._load_runs()

    def action_reload(self) -> None:
        """Re-read the runs."""
        self.refresh_data()

    # ------------------------------------------------------------------ runs list and polling

    @work(thread=True, exclusive=True, group="runs-list", name="list runs", exit_on_error=False)
    def _load_runs(self) -> None:
        from lightdom_tui.usecases.training import list_runs

        self.post_message(RunsLoaded(list_runs(self.workspace)))

    def _poll(self) -> None:
        """Dolphie-style loop: read the followed run, then schedule the next read."""
        if self.followed is not None and self._followed_status in (None, "queued", "running"):
            self._read_run(self.followed)  # finished runs are read once, not polled
        self.set_timer(POLL_S, self._poll)

    @work(thread=True, exclusive=True, group="run-poll", name="read run metrics", exit_on_error=False)
    def _read_run(self, run_id: int) -> None:
        from lightdom_tui.usecases.training import show_run

        self.post_message(MetricsUpdated(show_run(self.workspace, run_id)))

    @on(DataTable.RowHighlighted, "#runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.followed = int(event.row_key.value)
            self._followed_status = None
            self._read_run(self.followed)

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        detail = message.detail
        if detail.id != self.followed:
            return
        self._followed_status = detail.status
        last = detail.metrics[-1] if detail.metrics else {}
        evals = [m for m in detail.metrics if m.get("eval_loss") is not None]
        total = detail.total_steps or max(detail.step, 1)
        stats = [
            f"[b]run #{detail.id}[/b] {detail.status}  step {detail.step}/{detail.total_steps or '?'}  "
            f"loss {_fmt(last.get('loss'))}  eval {_fmt(evals[-1]['eval_loss'] if evals else None)}  "
            f"tok/s {_fmt(last.get('tokens_per_sec'), '.0f')}",
            plan_line(detail.config, detail.status, detail.step),  # the recipe's time estimate
            score_line(detail.config),  # validation name F1 per eval, as the trainer records it
            f"[red]{markup_safe(detail.error)}[/red]" if detail.error else None,
        ]
        self.query_one("#run-stats", Static).update("\n".join(line for line in stats if line))
        self.query_one("#run-progress", ProgressBar).update(total=total, progress=detail.step)
        self.query_one(LossPlot).update_points(detail.id, detail.metrics)
        lines = log_lines(detail)
        log = self.query_one("#run-log", Log)
        if len(lines) != self._log_count or detail.status != "running":
            log.clear()
            log.write_lines(lines)
            self._log_count = len(lines)
        table = self.query_one("#runs", DataTable)
        key = str(detail.id)
        if key in table.rows:  # update in place by row key (no rebuild)
            table.update_cell(key, "status", detail.status)
            table.update_cell(key, "step", f"{detail.step}/{detail.total_steps or '?'}")

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        message.stop()
        self._show_runs(message.runs)

    def on_training_planned(self, message: TrainingPlanned) -> None:
        message.stop()
        self._confirm_start(message.plan, message.accelerate, message.processes)

    def on_training_finished(self, message: TrainingFinished) -> None:
        """A run ended: say so (with the export command), then the refresh bus updates every pane."""
        message.stop()
        self.notify(message.text, timeout=15)
        self.post_message(DataChanged("runs"))

    def _show_runs(self, runs: list[Any]) -> None:
        table = self.query_one("#runs", DataTable)
        keep = self.followed
        table.clear()
        for run in runs:
            table.add_row(f"#{run.id}", run.status, run.preset or "–", f"{run.step}/{run.total_steps or '?'}",
                          run.created_at[:16], key=str(run.id))
        table.border_title = f"runs · {len(runs)}"
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))

    # ------------------------------------------------------------------ start / cancel / resume

    def action_start(self) -> None:
        """Ask for dataset, base and preset (lists of what exists); show the memory estimate; then train in a worker."""
        self._load_choices()

    @work(thread=True, exclusive=True, group="train-estimate", name="training choices", exit_on_error=False)
    def _load_choices(self) -> None:
        from lightdom_tui.usecases.training import training_choices

        self.post_message(TrainingChoicesLoaded(training_choices(self.workspace)))

    def on_training_choices_loaded(self, message: TrainingChoicesLoaded) -> None:
        message.stop()
        choices = message.choices
        if not choices.datasets:
            self.notify("no dataset yet: build one in Curation (b) from approved examples", severity="warning")
            return
        settings = self.workspace.settings.training
        fields = [
            FormField("dataset", "dataset", choices.datasets[0], choices=choices.datasets),
            FormField("base", "base model", settings.base),
            FormField("preset", "preset", settings.preset, choices=choices.presets),
            FormField("method", "method", placeholder="the preset's", choices=choices.methods),
            FormField("learning_rate", "learning rate", placeholder="empty = the preset's"),
            FormField("epochs", "epochs", placeholder="empty = the preset's"),
            FormField("max_steps", "max steps", placeholder="empty = the preset's"),
            FormField("eval_steps", "eval every (steps)", placeholder="empty = the preset's"),
            FormField("save_steps", "save every (steps)", placeholder="empty = the preset's"),
            FormField("batch_size", "batch size", placeholder="empty = the preset's"),
            FormField("grad_accum", "gradient accumulation", placeholder="empty = the preset's"),
            FormField("max_seq_len", "max sequence length", placeholder="empty = the preset's"),
            FormField("lora_r", "LoRA rank", placeholder="empty = the preset's"),
            FormField("seed", "seed", placeholder="empty = the preset's"),
            FormField("early_stopping_patience", "patience (evals)", placeholder="empty = the preset's"),
            FormField("packing", "packing", placeholder="the preset's", choices=YES_NO),
            FormField("gradient_checkpointing", "gradient checkpointing", placeholder="the preset's", choices=YES_NO),
            FormField("name", "adapter name", placeholder="empty = generated"),
            FormField("force", "start if it won't fit", placeholder="no", choices=YES_NO),
            FormField("launch", "launch", LAUNCHES[0], choices=LAUNCHES),
            FormField("processes", "processes", placeholder="with accelerate: empty = one per GPU"),
            FormField("export_script", "export script to", placeholder="a folder: write the script, don't train"),
        ]
        self.app.push_screen(FormScreen("start a training run", fields, preview=self._plan_line),
                             lambda values: self._submitted(values) if values else None)

    def _submitted(self, values: dict[str, str]) -> None:
        folder = (values.get("export_script") or "").strip()
        if folder:  # as `lightdom train --export-script DIR`: write it and stop
            self._export_script(values, folder)
        else:
            self._estimate(values)

    @work(thread=True, exclusive=True, group="train-estimate", name="export training script", exit_on_error=False)
    def _export_script(self, values: dict[str, str], folder: str) -> None:
        from pathlib import Path

        from lightdom_tui.usecases.training import export_training_script, spec_from_form

        exported = export_training_script(self.workspace, spec_from_form(values), Path(folder).expanduser())
        self.post_message(Notice(f"wrote {exported.script} and {exported.config}"))

    def _plan_line(self, values: dict[str, str]) -> str:
        """The run's memory estimate and recipe, shown in the form before it is submitted (runs in a thread)."""
        from lightdom_tui.usecases.training import plan_training, spec_from_form

        from rich.markup import escape

        plan = plan_training(self.workspace, spec_from_form(values))
        verdict = "[green]fits[/green]" if plan.fits else "[red]does NOT fit[/red]"
        return f"{escape(plan.summary())}\n→ {verdict}"

    @work(thread=True, exclusive=True, group="train-estimate", name="memory estimate", exit_on_error=False)
    def _estimate(self, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.options import parse_int_option
        from lightdom_tui.usecases.training import plan_training, spec_from_form

        accelerate = values.get("launch") == ACCELERATE
        processes = parse_int_option(values.get("processes"), "processes")
        if processes is not None and not accelerate:  # as `lightdom train --processes` without --accelerate
            raise LightdomError("processes: only with the accelerate launch")
        # the plan reads the dataset and the base's config (seconds on a cold start): say so at once
        self.post_message(Notice(f"checking {values.get('dataset') or 'the dataset'} and estimating memory…"))

        plan = plan_training(self.workspace, spec_from_form(values))
        self.post_message(TrainingPlanned(plan, accelerate=accelerate, processes=processes))

    def _confirm_start(self, plan: Any, accelerate: bool = False, processes: int | None = None) -> None:
        verdict = "fits" if plan.fits else "[red]does NOT fit[/red]"
        count = "one per GPU" if processes is None else processes
        how = f" through accelerate launch ({count} process(es))" if accelerate else ""
        self.app.confirm(  # type: ignore[attr-defined]
            f"Train on {plan.dataset} with preset {plan.preset} ({plan.method}){how}?\n{plan.estimate.summary()}\n"
            + (f"{markup_safe(plan.recipe)}\n" if plan.recipe else "") + f"→ {verdict}",
            (lambda: self._train_accelerate(plan.spec, processes)) if accelerate else (lambda: self._train(plan.spec)),
        )

    @work(thread=True, exclusive=True, group="train", name="accelerate launch", exit_on_error=False)
    def _train_accelerate(self, spec: Any, processes: int | None) -> None:
        """As `lightdom train --accelerate [--processes N]`: the run's metrics arrive when the launch ends."""
        from lightdom_tui.usecases.training import train_with_accelerate

        self.post_message(Notice("accelerate launch started: its metrics are imported when it ends"))
        self.app.call_from_thread(self.set_timer, ACCELERATE_LIST_S, self._load_runs)  # the run once recorded
        done = train_with_accelerate(self.workspace, spec, processes=processes)
        self.post_message(TrainingFinished(_finished_text(done)))

    @work(thread=True, exclusive=True, group="train", name="training", exit_on_error=False)
    def _train(self, spec: Any) -> None:
        from lightdom_tui.usecases.training import train

        self.post_message(Notice("training started"))
        self.app.call_from_thread(self._load_runs)
        done = self._run_and_follow(lambda callbacks: train(self.workspace, spec, callbacks=callbacks))
        self.post_message(TrainingFinished(_finished_text(done)))

    def _run_and_follow(self, run: Any) -> Any:
        """Run ``run(callbacks)``; a callback follows the new run as soon as it starts."""
        from lightdom_tui.usecases.training import TrainingCallback, list_runs

        pane = self

        class Follow(TrainingCallback):
            def on_start(self, run_id: int, total_steps: int, start_step: int) -> None:
                pane.followed, pane._followed_status = run_id, None
                pane.post_message(RunsLoaded(list_runs(pane.workspace)))

        return run([Follow()])

    def action_cancel(self) -> None:
        """Ask the selected run to stop after its current step."""
        if self.followed is not None:
            self._cancel(self.followed)

    @work(thread=True, group="train-cancel", name="cancel run", exit_on_error=False)
    def _cancel(self, run_id: int) -> None:
        from lightdom_tui.usecases.training import cancel_run

        summary = cancel_run(self.workspace, run_id)
        self.post_message(Notice(f"run #{run_id}: cancel requested ({summary.status})"))

    def action_resume(self) -> None:
        """Continue the selected run from its last checkpoint, in a worker."""
        if self.followed is not None:
            self._resume(self.followed)

    @work(thread=True, exclusive=True, group="train", name="resume run", exit_on_error=False)
    def _resume(self, run_id: int) -> None:
        from lightdom_tui.usecases.training import resume_run

        self.post_message(Notice(f"resuming run #{run_id}"))
        done = self._run_and_follow(lambda callbacks: resume_run(self.workspace, run_id, callbacks=callbacks))
        self.post_message(TrainingFinished(_finished_text(done)))
