"""The campaign pane's operations the CLI has too: webhook token, workflow metrics, training examples from a
run, campaign export / import, workflow import, data stream rows, the scheduler's tick and due times. Each calls the same use
case as its CLI command.

A mixin of ``CampaignPane`` (its bindings are declared there, so help and the keymap see them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message

from lightdom_tui.tui.messages import DataChanged, NodeChanged, Notice
from lightdom_tui.tui.screens.campaign_views import ROWS_SHOWN, ShownOnceScreen, StreamRowsScreen
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.widgets.campaign.nodes import NodeRef
from lightdom_tui.usecases import campaign as uc


class TokenIssued(Message):
    """A webhook token was issued: shown once, in a dialog (never in a toast that stays in the log)."""

    def __init__(self, workflow_id: int, token: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.token = token


class StreamRowsLoaded(Message):
    """The latest rows of a data stream and how many it holds."""

    def __init__(self, name: str, rows: list[dict[str, Any]], total: int) -> None:
        super().__init__()
        self.name = name
        self.rows = rows
        self.total = total


class WorkflowMetricsLoaded(Message):
    """Per-run metrics of a workflow (or the scheduler's due times), as lines for the workflow log box."""

    def __init__(self, workflow_id: int, lines: list[str], title: str = "") -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.lines = lines
        self.title = title or f"workflow metrics · #{workflow_id}"


def metrics_lines(result: Any) -> list[str]:
    """`workflow metrics` as text: the totals, then one line per run."""
    lines = [f"totals: {result.totals}"]
    for run in result.runs:
        lines.append(f"run {run['run_id']}  {run['status']}  {run['trigger']}  pages {run['pages']}  "
                     f"rows {run['rows']}  invalid {run['invalid_values']}  {run['duration_s']} s  "
                     f"success {run['success_rate']}")
    return lines


def schedule_lines(rows: list[dict[str, Any]]) -> list[str]:
    """`scheduler due` as text: one line per scheduled workflow."""
    if not rows:
        return ["no scheduled workflow (a workflow with a schedule trigger)"]
    return [f"#{r['workflow_id']} {r['name']}  {r['status']}  cron {r['cron']} ({r['timezone']})  next due "
            f"{r['next_due'] or '–'}" for r in rows]


class CampaignOpsActions:
    """Token, metrics, training examples, export / import, data stream rows, the scheduler."""

    workspace: Any
    selected: NodeRef | None

    def _need(self, kind: str) -> NodeRef | None:
        if self.selected is None or self.selected.kind != kind:
            self.notify(f"select a {kind} first", severity="warning")  # type: ignore[attr-defined]
            return None
        return self.selected

    # ------------------------------------------------------------------ workflows

    def action_webhook_token(self) -> None:
        """Issue (or rotate) the selected webhook workflow's token, shown once (`workflow token`)."""
        ref = self._need("workflow")
        if ref is not None:
            self.app.confirm(  # type: ignore[attr-defined]
                f"Issue a new webhook token for {ref.name}? A previous token stops working.",
                lambda: self._token(ref.id))

    @work(thread=True, group="campaign-write", name="webhook token", exit_on_error=False)
    def _token(self, workflow_id: int) -> None:
        self.post_message(TokenIssued(workflow_id, uc.issue_webhook_token(self.workspace, workflow_id)))  # type: ignore[attr-defined]

    def on_token_issued(self, message: TokenIssued) -> None:
        message.stop()
        usage = (f"curl -X POST -H 'X-Lightdom-Token: <token>' "
                 f"http://127.0.0.1:PORT/hooks/{message.workflow_id}\nOnly its hash is stored.")
        self.app.push_screen(ShownOnceScreen(f"webhook token · workflow {message.workflow_id}",  # type: ignore[attr-defined]
                                             message.token, usage))

    def action_workflow_metrics(self) -> None:
        """Per-run metrics and totals of the selected workflow (`workflow metrics`), in the log box."""
        ref = self._need("workflow")
        if ref is not None:
            self._metrics(ref.id)

    @work(thread=True, exclusive=True, group="workflow-log", name="workflow metrics", exit_on_error=False)
    def _metrics(self, workflow_id: int) -> None:
        result = uc.workflow_metrics(self.workspace, workflow_id)
        self.post_message(WorkflowMetricsLoaded(workflow_id, metrics_lines(result)))  # type: ignore[attr-defined]

    def on_workflow_metrics_loaded(self, message: WorkflowMetricsLoaded) -> None:
        message.stop()
        from textual.widgets import Log

        log = self.query_one("#workflow-log", Log)  # type: ignore[attr-defined]
        log.clear()
        log.write_lines(message.lines)
        log.border_title = message.title

    def action_train_examples(self) -> None:
        """Turn the selected workflow's latest completed run into attribute-generation training examples
        (`workflow train-export`)."""
        ref = self._need("workflow")
        if ref is None:
            return
        fields = [FormField("run", "run", placeholder="empty = the latest completed"),
                  FormField("min_valid_rate", "min valid rate", "0.8"),
                  FormField("status", "status", "pending", choices=("pending", "approved"))]
        self.app.push_screen(FormScreen(f"training examples from {ref.name}", fields),  # type: ignore[attr-defined]
                             lambda values: self._train_examples(ref.id, values) if values else None)

    @work(thread=True, group="campaign-write", name="training examples from a run", exit_on_error=False)
    def _train_examples(self, workflow_id: int, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.options import parse_float_option, parse_int_option

        result = uc.training_examples_from_run(
            self.workspace, workflow_id, run_id=parse_int_option(values.get("run"), "run"),
            min_valid_rate=parse_float_option(values.get("min_valid_rate"), "min valid rate", 0.8),
            status=values.get("status") or "pending")
        self.post_message(Notice(f"run {result.run_id}: {len(result.created)} example(s) created, "  # type: ignore[attr-defined]
                                 f"{len(result.duplicates)} duplicate(s), {len(result.skipped)} skipped"))
        self.post_message(DataChanged("examples"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ scheduler

    def action_scheduler_tick(self) -> None:
        """Claim and run the scheduled workflows due now, once (`scheduler tick`); the TUI runs no scheduler."""
        self.notify("scheduler: running what is due now…")  # type: ignore[attr-defined]
        self._tick()

    @work(thread=True, exclusive=True, group="scheduler", name="scheduler tick", exit_on_error=False)
    def _tick(self) -> None:
        result = uc.scheduler_tick(self.workspace)
        self.post_message(Notice(f"claimed {len(result.claimed)}, skipped {len(result.skipped)}"))  # type: ignore[attr-defined]
        self.post_message(DataChanged("campaigns"))  # type: ignore[attr-defined]

    def action_scheduler_due(self) -> None:
        """The next due time of every scheduled workflow (`scheduler due`), in the log box."""
        self._due()

    @work(thread=True, exclusive=True, group="workflow-log", name="scheduler due", exit_on_error=False)
    def _due(self) -> None:
        lines = schedule_lines(uc.scheduled_workflows(self.workspace))
        self.post_message(WorkflowMetricsLoaded(0, lines, "scheduled workflows"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ documents

    def action_export_campaign(self) -> None:
        """Write the selected campaign (or workflow) as a JSON or YAML document (`campaign export`)."""
        ref = self.selected
        if ref is None or ref.kind not in ("campaign", "workflow"):
            self.notify("select a campaign or a workflow first", severity="warning")  # type: ignore[attr-defined]
            return
        default = str(self.workspace.root / f"{ref.name}.yaml")
        self.app.prompt(f"File to write {ref.kind} {ref.name} to (.json or .yaml)",  # type: ignore[attr-defined]
                        lambda path: self._export(ref, path), title=f"Export {ref.kind}", value=default)

    @work(thread=True, group="campaign-export", name="export document", exit_on_error=False)
    def _export(self, ref: NodeRef, path: str) -> None:
        written = uc.export_document(self.workspace, ref.kind, ref.id, Path(path.strip()).expanduser())
        self.post_message(Notice(f"exported to {written.path}"))  # type: ignore[attr-defined]

    def action_import_campaign(self) -> None:
        """Import a campaign document, all or nothing (`campaign import`)."""
        fields = [FormField("path", "file", placeholder=".json or .yaml written by export"),
                  FormField("name", "name", placeholder="empty = the document's")]
        self.app.push_screen(FormScreen("import a campaign", fields),  # type: ignore[attr-defined]
                             lambda values: self._import(values) if values else None)

    @work(thread=True, group="campaign-write", name="import document", exit_on_error=False)
    def _import(self, values: dict[str, str]) -> None:
        from lightdom_tui.errors import LightdomError

        path = (values.get("path") or "").strip()
        if not path:
            raise LightdomError("file: give the .json or .yaml document to import")
        row = uc.import_document(self.workspace, "campaign", Path(path).expanduser(),
                                 name=(values.get("name") or "").strip() or None)
        self.post_message(Notice(f"campaign {row.id} {row.name!r} imported"))  # type: ignore[attr-defined]
        self.post_message(NodeChanged(NodeRef("root", None, "campaigns"),  # type: ignore[attr-defined]
                                      NodeRef("campaign", row.id, row.name)))

    def action_import_workflow(self) -> None:
        """Import a workflow document into the selected campaign, all or nothing (`workflow import`)."""
        ref = self._need("campaign")
        if ref is None:
            return
        fields = [FormField("path", "file", placeholder=".json or .yaml written by export"),
                  FormField("name", "name", placeholder="empty = the document's")]
        self.app.push_screen(FormScreen(f"import a workflow into {ref.name}", fields),  # type: ignore[attr-defined]
                             lambda values: self._import_workflow(ref, values) if values else None)

    @work(thread=True, group="campaign-write", name="import workflow", exit_on_error=False)
    def _import_workflow(self, campaign: NodeRef, values: dict[str, str]) -> None:
        from lightdom_tui.errors import LightdomError

        path = (values.get("path") or "").strip()
        if not path:
            raise LightdomError("file: give the .json or .yaml document to import")
        row = uc.import_document(self.workspace, "workflow", Path(path).expanduser(),
                                 name=(values.get("name") or "").strip() or None, campaign_id=campaign.id)
        self.post_message(Notice(f"workflow {row.id} {row.name!r} imported into {campaign.name}"))  # type: ignore[attr-defined]
        self.post_message(NodeChanged(campaign, NodeRef("workflow", row.id, row.name)))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ data streams

    def action_stream_rows(self) -> None:
        """The latest rows of the selected data stream (`datastream rows`), capped, with how many there are."""
        ref = self._need("datastream")
        if ref is not None:
            self._rows(ref)

    @work(thread=True, exclusive=True, group="stream-rows", name="data stream rows", exit_on_error=False)
    def _rows(self, ref: NodeRef) -> None:
        rows = uc.datastream_rows(self.workspace, ref.id, limit=ROWS_SHOWN)
        total = uc.datastream_row_count(self.workspace, ref.id)
        self.post_message(StreamRowsLoaded(ref.name, rows, total))  # type: ignore[attr-defined]

    def on_stream_rows_loaded(self, message: StreamRowsLoaded) -> None:
        message.stop()
        self.app.push_screen(StreamRowsScreen(f"rows of {message.name}", message.rows, message.total))  # type: ignore[attr-defined]
