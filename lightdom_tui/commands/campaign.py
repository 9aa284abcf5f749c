"""`lightdom campaign|workflow|service|datastream|attribute|bundle|scheduler …` — the campaign tree.

Thin: parse → call an ``orchestration`` service → print one JSON object (``--json``) or a
rich rendering. Deleting a node with children asks first (``--yes`` skips the question;
without a terminal or with ``--json`` it refuses unless ``--yes`` is given).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from lightdom_tui.commands._common import JsonOpt, emit, err_console, markup_safe, workspace_from
from lightdom_tui.errors import LightdomError

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Delete children too without asking.")]


def register(app: typer.Typer) -> None:
    """Add the campaign-tree command groups to the root app."""
    groups = {
        "campaign": (campaign_app, "Campaigns: the top of the tree."),
        "workflow": (workflow_app, "Workflows: triggers, runs, stop, logs, metrics."),
        "service": (service_app, "Services: where a workflow fetches from (http / html / file / llm)."),
        "datastream": (datastream_app, "Data streams: destination, transformations, model suggestions."),
        "attribute": (attribute_app, "Attributes: fields extracted into a data stream."),
        "bundle": (bundle_app, "Bundles: a whole branch with generated attributes in one step."),
        "scheduler": (scheduler_app, "Run scheduled, webhook and file-triggered workflows."),
    }
    for name, (group, help_text) in groups.items():
        app.add_typer(group, name=name, help=help_text)


campaign_app = typer.Typer(no_args_is_help=True)
workflow_app = typer.Typer(no_args_is_help=True)
service_app = typer.Typer(no_args_is_help=True)
datastream_app = typer.Typer(no_args_is_help=True)
attribute_app = typer.Typer(no_args_is_help=True)
bundle_app = typer.Typer(no_args_is_help=True)
scheduler_app = typer.Typer(no_args_is_help=True)


# --------------------------------------------------------------------------- helpers


def _json_arg(text: str | None, where: str) -> Any:
    from lightdom_tui.usecases.options import parse_json_option

    return parse_json_option(text, where)


def _changes(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _create(ctx: typer.Context, kind: str, parent_id: int | None, name: str, json: bool, **values: Any) -> None:
    from lightdom_tui.usecases.campaign import NodeSpec, create_node

    created = create_node(workspace_from(ctx), NodeSpec(kind, parent_id, name, values))
    label = {"datastream": "data stream"}.get(kind, kind)
    emit(created.row, json, lambda c: c.print(f"{label} {created.id} {created.name!r} created"))


def _list(ctx: typer.Context, kind: str, parent_id: int | None, json: bool, title: str, columns: list[str]) -> None:
    from lightdom_tui.usecases.campaign import list_nodes

    rows = [n.row for n in list_nodes(workspace_from(ctx), kind, parent_id)]
    emit({f"{kind}s": rows}, json, _list_table(title, rows, columns))


def _delete(ctx: typer.Context, kind: str, node_id: int, yes: bool, json: bool) -> None:
    from lightdom_tui.errors import ConfirmationRequired
    from lightdom_tui.usecases.campaign import delete_node

    ws = workspace_from(ctx)
    try:
        result = delete_node(ws, kind, node_id, confirm=yes)
    except ConfirmationRequired as exc:
        if json or not sys.stdin.isatty():
            raise
        what = ", ".join(f"{n} {k}" for k, n in exc.counts.items())
        if not typer.confirm(f"Delete {kind} {node_id} and {what}?", default=False):
            raise LightdomError(f"{kind} {node_id}: not deleted") from None
        result = delete_node(ws, kind, node_id, confirm=True)
    emit(result, json, lambda c: c.print(f"deleted {kind} {node_id} {result.name!r} {result.removed or ''}"))


def _update(ctx: typer.Context, kind: str, node_id: int, changes: dict[str, Any], json: bool) -> None:
    from lightdom_tui.usecases.campaign import NodeChange, update_node

    if not changes:
        raise LightdomError("update: give at least one option to change")
    emit(update_node(workspace_from(ctx), NodeChange(kind, node_id, changes)).row, json)


def _decide(ctx: typer.Context, suggestion_id: int, decision: str, **values: Any) -> Any:
    from lightdom_tui.usecases.campaign import SuggestionDecision, decide_suggestion

    return decide_suggestion(workspace_from(ctx), SuggestionDecision(suggestion_id, decision, values))


def _list_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Any:
    def human(console: Console) -> None:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*[markup_safe(row.get(c, "")) for c in columns])
        console.print(table)

    return human


# --------------------------------------------------------------------------- campaign


@campaign_app.command("create")
def campaign_create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    status: Annotated[str, typer.Option(help="draft / active / paused / done.")] = "draft",
    start: Annotated[str | None, typer.Option(help="Start date (ISO).")] = None,
    end: Annotated[str | None, typer.Option(help="End date (ISO).")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a campaign."""
    _create(ctx, "campaign", None, name, json, description=description, status=status, start_date=start,
            end_date=end)


@campaign_app.command("list")
def campaign_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List campaigns."""
    _list(ctx, "campaign", None, json, "campaigns", ["id", "name", "status", "start_date", "end_date"])


@campaign_app.command("show")
def campaign_show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Campaign id or name.")],
                  json: JsonOpt = False) -> None:
    """Show a campaign and its whole tree."""
    from lightdom_tui.usecases.campaign import show_campaign

    shown = show_campaign(workspace_from(ctx), ref)
    row = shown.row

    def build(node: Tree, children: list[dict[str, Any]]) -> None:
        for child in children:
            build(node.add(f"[bold]{child['kind']}[/] {child['id']}: {markup_safe(child['label'])}"), child["children"])

    status = markup_safe(f"[{row['status']}]")
    root = Tree(f"[bold]campaign[/] {row['id']}: {markup_safe(row['name'])} {status}")
    build(root, shown.children)
    emit({**row, "tree": shown.workflows}, json, lambda c: c.print(root))


@campaign_app.command("update")
def campaign_update(
    ctx: typer.Context,
    campaign_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="draft / active / paused / done.")] = None,
    start: Annotated[str | None, typer.Option(help="Start date (ISO); empty clears it.")] = None,
    end: Annotated[str | None, typer.Option(help="End date (ISO); empty clears it.")] = None,
    json: JsonOpt = False,
) -> None:
    """Change a campaign."""
    _update(ctx, "campaign", campaign_id,
            _changes(name=name, description=description, status=status, start_date=start, end_date=end), json)


@campaign_app.command("delete")
def campaign_delete(ctx: typer.Context, campaign_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a campaign and (with confirmation) everything under it."""
    _delete(ctx, "campaign", campaign_id, yes, json)


@campaign_app.command("export")
def campaign_export(ctx: typer.Context, ref: str, path: Annotated[Path, typer.Argument(help=".json or .yaml")],
                    json: JsonOpt = False) -> None:
    """Export a campaign as a JSON or YAML document."""
    from lightdom_tui.usecases.campaign import export_document

    written = export_document(workspace_from(ctx), "campaign", ref, path)
    emit(written, json, lambda c: c.print(f"exported to {written.path}"))


@campaign_app.command("import")
def campaign_import(ctx: typer.Context, path: Path,
                    name: Annotated[str | None, typer.Option(help="Import under another name.")] = None,
                    json: JsonOpt = False) -> None:
    """Import a campaign document (all or nothing)."""
    from lightdom_tui.usecases.campaign import import_document

    data = import_document(workspace_from(ctx), "campaign", path, name=name).row
    emit(data, json, lambda c: c.print(f"campaign {data['id']} {data['name']!r} imported"))


# --------------------------------------------------------------------------- workflow


def _trigger_config(config: str | None, cron: str | None, timezone: str | None, path: str | None) -> dict[str, Any] | None:
    parsed = _json_arg(config, "--config")
    if parsed is None and cron is None and timezone is None and path is None:
        return None
    result = dict(parsed or {})
    result.update(_changes(cron=cron, timezone=timezone, path=path))
    return result


@workflow_app.command("create")
def workflow_create(
    ctx: typer.Context,
    campaign_id: int,
    name: str,
    trigger: Annotated[str, typer.Option(help="manual / schedule / webhook / file.")] = "manual",
    cron: Annotated[str | None, typer.Option(help="Cron expression for schedule triggers, e.g. '0 6 * * *'.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone of the cron expression.")] = None,
    path: Annotated[str | None, typer.Option(help="Watched file or folder for file triggers.")] = None,
    config: Annotated[str | None, typer.Option(help="Trigger config as JSON.")] = None,
    status: Annotated[str, typer.Option(help="draft / active / paused / disabled.")] = "draft",
    concurrency: Annotated[int, typer.Option(help="Pages fetched at once.")] = 4,
    json: JsonOpt = False,
) -> None:
    """Create a workflow (a webhook workflow prints its secret token once)."""
    from lightdom_tui.usecases.campaign import WorkflowSpec, create_workflow

    created = create_workflow(workspace_from(ctx), WorkflowSpec(
        campaign_id, name, trigger=trigger, trigger_config=_trigger_config(config, cron, timezone, path),
        status=status, concurrency=concurrency))
    token = created.webhook_token
    data = {**created.row, **({"webhook_token": token} if token else {})}
    if created.notes and not json:
        err_console.print("\n".join(created.notes), markup=False)
    emit(data, json, lambda c: c.print(f"workflow {data['id']} {data['name']!r} created"
                                       + (f"\nwebhook token (shown once): {token}" if token else "")))


@workflow_app.command("list")
def workflow_list(ctx: typer.Context, campaign: Annotated[int | None, typer.Option(help="Campaign id.")] = None,
                  json: JsonOpt = False) -> None:
    """List workflows."""
    _list(ctx, "workflow", campaign, json, "workflows", ["id", "campaign_id", "name", "trigger", "status", "concurrency"])


@workflow_app.command("show")
def workflow_show(ctx: typer.Context, workflow_id: int, json: JsonOpt = False) -> None:
    """Show a workflow with its services, streams and attributes."""
    from lightdom_tui.usecases.campaign import show_workflow

    emit(show_workflow(workspace_from(ctx), workflow_id), json)


@workflow_app.command("update")
def workflow_update(
    ctx: typer.Context,
    workflow_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    trigger: Annotated[str | None, typer.Option(help="manual / schedule / webhook / file.")] = None,
    cron: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str | None, typer.Option()] = None,
    path: Annotated[str | None, typer.Option()] = None,
    config: Annotated[str | None, typer.Option(help="Trigger config as JSON.")] = None,
    status: Annotated[str | None, typer.Option(help="draft / active / paused / disabled.")] = None,
    concurrency: Annotated[int | None, typer.Option()] = None,
    json: JsonOpt = False,
) -> None:
    """Change a workflow."""
    changes = _changes(name=name, trigger=trigger, status=status, concurrency=concurrency)
    trigger_config = _trigger_config(config, cron, timezone, path)
    if trigger_config is not None:
        changes["trigger_config"] = trigger_config
    _update(ctx, "workflow", workflow_id, changes, json)


@workflow_app.command("delete")
def workflow_delete(ctx: typer.Context, workflow_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a workflow and (with confirmation) its services, streams, attributes and runs."""
    _delete(ctx, "workflow", workflow_id, yes, json)


@workflow_app.command("token")
def workflow_token(ctx: typer.Context, workflow_id: int, json: JsonOpt = False) -> None:
    """Issue (or rotate) a webhook workflow's secret token; printed once, only its hash is stored."""
    from lightdom_tui.usecases.campaign import issue_webhook_token

    token = issue_webhook_token(workspace_from(ctx), workflow_id)
    emit({"workflow_id": workflow_id, "webhook_token": token,
          "usage": f"curl -X POST -H 'X-Lightdom-Token: <token>' http://127.0.0.1:PORT/hooks/{workflow_id}"},
         json, lambda c: c.print(f"webhook token (shown once): {token}"))


@workflow_app.command("run")
def workflow_run(
    ctx: typer.Context,
    workflow_id: int,
    deadline: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    json: JsonOpt = False,
) -> None:
    """Run a workflow now, in the foreground (`workflow stop ID` from elsewhere stops it)."""
    from rich.progress import Progress

    from lightdom_tui.usecases.campaign import run_workflow

    ws = workspace_from(ctx)
    if json:
        result = run_workflow(ws, workflow_id, deadline_s=deadline)
    else:
        with Progress(transient=True) as bar:
            task = bar.add_task(f"workflow {workflow_id}", total=None)
            result = run_workflow(ws, workflow_id, deadline_s=deadline,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total or None))
    assert result is not None
    m = result.metrics

    def human(console: Console) -> None:
        console.print(f"run {result.run_id}: [bold]{result.status}[/] — {m['pages']} page(s), {m['rows']} row(s), "
                      f"{m['invalid_values']} invalid value(s), success rate {m['success_rate']}, "
                      f"{m['duration_s']}s")

    emit(result, json, human)


@workflow_app.command("stop")
def workflow_stop(ctx: typer.Context, workflow_id: int,
                  run: Annotated[int | None, typer.Option(help="Only this run.")] = None,
                  json: JsonOpt = False) -> None:
    """Ask a workflow's running runs to stop (they stop after the current page)."""
    from lightdom_tui.usecases.campaign import stop_workflow

    ids = stop_workflow(workspace_from(ctx), workflow_id, run)
    emit({"workflow_id": workflow_id, "stop_requested": ids}, json,
         lambda c: c.print(f"stop requested for run(s) {ids}" if ids else "no running run"))


@workflow_app.command("logs")
def workflow_logs(
    ctx: typer.Context,
    workflow_id: int,
    run: Annotated[int | None, typer.Option(help="Run id (default: the latest run).")] = None,
    level: Annotated[str | None, typer.Option(help="info / warning / error.")] = None,
    limit: Annotated[int, typer.Option(help="Last N lines.")] = 200,
    json: JsonOpt = False,
) -> None:
    """Log lines of a workflow's latest run (or of one run)."""
    from dataclasses import asdict

    from lightdom_tui.usecases.campaign import workflow_logs

    rows = [asdict(line) for line in workflow_logs(workspace_from(ctx), workflow_id, run_id=run, limit=limit,
                                                   level=level)]

    def human(console: Console) -> None:
        for r in rows:
            colour = {"error": "red", "warning": "yellow"}.get(r["level"], "dim")
            console.print(f"[{colour}]{r['time'][11:19]} {r['level']:<7}[/] {markup_safe(r['message'])}", markup=True)

    emit({"workflow_id": workflow_id, "logs": rows}, json, human)


@workflow_app.command("metrics")
def workflow_metrics_cmd(ctx: typer.Context, workflow_id: int,
                         limit: Annotated[int, typer.Option(help="Last N runs.")] = 20,
                         json: JsonOpt = False) -> None:
    """Per-run metrics (pages, rows, invalid values, duration, success rate) and totals."""
    from lightdom_tui.usecases.campaign import workflow_metrics

    result = workflow_metrics(workspace_from(ctx), workflow_id, limit=limit)
    cols = ["run_id", "status", "trigger", "pages", "rows", "invalid_values", "duration_s", "success_rate"]
    emit(result, json, _list_table(f"workflow {workflow_id}: {result.totals}", result.runs, cols))


@workflow_app.command("export")
def workflow_export(ctx: typer.Context, workflow_id: int, path: Path, json: JsonOpt = False) -> None:
    """Export one workflow as a JSON or YAML document."""
    from lightdom_tui.usecases.campaign import export_document

    written = export_document(workspace_from(ctx), "workflow", workflow_id, path)
    emit({"path": written.path}, json, lambda c: c.print(f"exported to {written.path}"))


@workflow_app.command("import")
def workflow_import(ctx: typer.Context, path: Path,
                    campaign: Annotated[int, typer.Option(help="Campaign id to import into.")],
                    name: Annotated[str | None, typer.Option()] = None, json: JsonOpt = False) -> None:
    """Import a workflow document into a campaign."""
    from lightdom_tui.usecases.campaign import import_document

    data = import_document(workspace_from(ctx), "workflow", path, name=name, campaign_id=campaign).row
    emit(data, json, lambda c: c.print(f"workflow {data['id']} imported"))


@workflow_app.command("train-export")
def workflow_train_export(
    ctx: typer.Context,
    workflow_id: int,
    run: Annotated[int | None, typer.Option(help="Run id (default: latest completed).")] = None,
    min_valid_rate: Annotated[float, typer.Option(help="Keep attributes valid on at least this share of pages.")] = 0.8,
    status: Annotated[str, typer.Option(help="Status of the new examples: pending / approved.")] = "pending",
    json: JsonOpt = False,
) -> None:
    """Turn a completed run into attribute-generation training examples (curation engine)."""
    from lightdom_tui.usecases.campaign import training_examples_from_run

    result = training_examples_from_run(workspace_from(ctx), workflow_id, run_id=run, min_valid_rate=min_valid_rate,
                                        status=status)
    emit(result, json, lambda c: c.print(f"run {result.run_id}: {len(result.created)} example(s) created, "
                                         f"{len(result.duplicates)} duplicate(s), {len(result.skipped)} skipped"))


# --------------------------------------------------------------------------- service


def _service_config(config: str | None, url: list[str] | None, path: list[str] | None,
                    topic: list[str] | None) -> dict[str, Any] | None:
    parsed = _json_arg(config, "--config")
    if parsed is None and not url and not path and not topic:
        return None
    result = dict(parsed or {})
    if url:
        result["urls"] = list(url)
    if path:
        result["paths"] = list(path)
    if topic:
        result["topics"] = list(topic)
    return result


@service_app.command("create")
def service_create(
    ctx: typer.Context,
    workflow_id: int,
    name: str,
    type: Annotated[str, typer.Option("--type", help="http / html / file / llm.")] = "html",
    url: Annotated[list[str] | None, typer.Option("--url", help="A URL to fetch (repeat).")] = None,
    path: Annotated[list[str] | None, typer.Option("--path", help="A file path or glob (repeat).")] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic", help="A topic for llm services (repeat).")] = None,
    config: Annotated[str | None, typer.Option(help="Config as JSON (timeout_s, max_bytes, retries, format …).")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a service in a workflow."""
    _create(ctx, "service", workflow_id, name, json, type=type, config=_service_config(config, url, path, topic) or {})


@service_app.command("list")
def service_list(ctx: typer.Context, workflow: Annotated[int | None, typer.Option(help="Workflow id.")] = None,
                 json: JsonOpt = False) -> None:
    """List services."""
    _list(ctx, "service", workflow, json, "services", ["id", "workflow_id", "name", "type", "config"])


@service_app.command("update")
def service_update(
    ctx: typer.Context,
    service_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    type: Annotated[str | None, typer.Option("--type")] = None,
    url: Annotated[list[str] | None, typer.Option("--url")] = None,
    path: Annotated[list[str] | None, typer.Option("--path")] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic")] = None,
    config: Annotated[str | None, typer.Option(help="Replace the config (JSON).")] = None,
    json: JsonOpt = False,
) -> None:
    """Change a service."""
    changes = _changes(name=name, type=type)
    service_config = _service_config(config, url, path, topic)
    if service_config is not None:
        changes["config"] = service_config
    _update(ctx, "service", service_id, changes, json)


@service_app.command("delete")
def service_delete(ctx: typer.Context, service_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a service and (with confirmation) its streams and attributes."""
    _delete(ctx, "service", service_id, yes, json)


# --------------------------------------------------------------------------- data stream


@datastream_app.command("create")
def datastream_create(
    ctx: typer.Context,
    service_id: int,
    name: str,
    source: Annotated[str, typer.Option(help="What the stream describes (used as model context).")] = "",
    destination: Annotated[str, typer.Option(help="sqlite:TABLE or jsonl:PATH (default: its own table).")] = "",
    transformations: Annotated[str | None, typer.Option(help="JSON list of steps, e.g. '[{\"op\":\"trim\"}]'.")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a data stream for a service."""
    _create(ctx, "datastream", service_id, name, json, source=source, destination=destination,
            transformations=_json_arg(transformations, "--transformations") or [])


@datastream_app.command("list")
def datastream_list(ctx: typer.Context, service: Annotated[int | None, typer.Option(help="Service id.")] = None,
                    json: JsonOpt = False) -> None:
    """List data streams."""
    _list(ctx, "datastream", service, json, "data streams", ["id", "service_id", "name", "destination", "transformations"])


@datastream_app.command("update")
def datastream_update(
    ctx: typer.Context,
    datastream_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    destination: Annotated[str | None, typer.Option()] = None,
    transformations: Annotated[str | None, typer.Option(help="JSON list of steps.")] = None,
    json: JsonOpt = False,
) -> None:
    """Change a data stream."""
    changes = _changes(name=name, source=source, destination=destination)
    if transformations is not None:
        changes["transformations"] = _json_arg(transformations, "--transformations")
    _update(ctx, "datastream", datastream_id, changes, json)


@datastream_app.command("delete")
def datastream_delete(ctx: typer.Context, datastream_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a data stream and (with confirmation) its attributes and suggestions."""
    _delete(ctx, "datastream", datastream_id, yes, json)


@datastream_app.command("rows")
def datastream_rows(ctx: typer.Context, datastream_id: int,
                    limit: Annotated[int, typer.Option(help="Last N rows.")] = 20,
                    run: Annotated[int | None, typer.Option(help="Only rows of this run.")] = None,
                    json: JsonOpt = False) -> None:
    """Show the latest rows written to a data stream's destination."""
    from lightdom_tui.usecases.campaign import datastream_rows

    rows = datastream_rows(workspace_from(ctx), datastream_id, limit=limit, run_id=run)
    emit({"datastream_id": datastream_id, "rows": rows}, json)


@datastream_app.command("suggest")
def datastream_suggest(
    ctx: typer.Context,
    datastream_id: int,
    topic: Annotated[str, typer.Option(help="What the attributes should describe.")],
    count: Annotated[int, typer.Option(help="How many attributes to ask for.")] = 8,
    context: Annotated[str | None, typer.Option(help="Extra context (default: the stream's source and attributes).")] = None,
    json: JsonOpt = False,
) -> None:
    """Ask the model for attributes; they are stored as pending suggestions."""
    from lightdom_tui.usecases.campaign import suggest_attributes

    result = suggest_attributes(workspace_from(ctx), datastream_id, topic, count, context=context)
    rows = result.suggestions
    emit(result, json, _list_table(f"suggestions from {result.model} ({result.engine}, {result.latency_ms:.0f} ms)",
                                   rows, ["id", "name", "type", "description"]))


@datastream_app.command("suggestions")
def datastream_suggestions(ctx: typer.Context, datastream_id: int,
                           status: Annotated[str, typer.Option(help="pending / accepted / edited / rejected / all.")] = "pending",
                           json: JsonOpt = False) -> None:
    """List a stream's suggestions."""
    from lightdom_tui.usecases.campaign import list_suggestions

    rows = [r.data for r in list_suggestions(workspace_from(ctx), datastream_id, None if status == "all" else status)]
    emit({"datastream_id": datastream_id, "suggestions": rows}, json,
         _list_table("suggestions", rows, ["id", "status", "name", "type", "model_version", "arm", "description"]))


@datastream_app.command("accept")
def datastream_accept(ctx: typer.Context, suggestion_id: int,
                      selector: Annotated[str | None, typer.Option(help="CSS selector or JSON path.")] = None,
                      json: JsonOpt = False) -> None:
    """Accept a suggestion: a new attribute and an approved training example."""
    result = _decide(ctx, suggestion_id, "accept", selector=selector)
    emit(result, json, lambda c: c.print(f"accepted → attribute {result.attribute_id}, example {result.example_id}"))


@datastream_app.command("edit")
def datastream_edit(
    ctx: typer.Context,
    suggestion_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    type: Annotated[str | None, typer.Option("--type")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    validation: Annotated[str | None, typer.Option(help="Rules as JSON.")] = None,
    selector: Annotated[str | None, typer.Option()] = None,
    json: JsonOpt = False,
) -> None:
    """Accept a suggestion with corrections (the correction is approved, the original kept as a negative)."""
    result = _decide(ctx, suggestion_id, "edit", name=name, type=type, description=description,
                     validation=_json_arg(validation, "--validation"), selector=selector)
    emit(result, json, lambda c: c.print(f"edited → attribute {result.attribute_id}, example {result.example_id}"))


@datastream_app.command("reject")
def datastream_reject(ctx: typer.Context, suggestion_id: int,
                      reason: Annotated[str, typer.Option(help="Why (kept with the negative example).")],
                      json: JsonOpt = False) -> None:
    """Reject a suggestion; it becomes a rejected (negative) training example."""
    result = _decide(ctx, suggestion_id, "reject", reason=reason)
    emit(result, json, lambda c: c.print(f"rejected → example {result.example_id}"))


# --------------------------------------------------------------------------- attribute


@attribute_app.command("create")
def attribute_create(
    ctx: typer.Context,
    datastream_id: int,
    name: str,
    type: Annotated[str, typer.Option("--type", help="string / number / boolean / array / object / date.")] = "string",
    description: Annotated[str, typer.Option()] = "",
    selector: Annotated[str | None, typer.Option(help="CSS selector (css@attr for an attribute) or $.json.path.")] = None,
    validation: Annotated[str | None, typer.Option(help="Rules as JSON: required/minLength/maxLength/pattern/min/max/enum.")] = None,
    json: JsonOpt = False,
) -> None:
    """Create an attribute in a data stream."""
    _create(ctx, "attribute", datastream_id, name, json, type=type, description=description, selector=selector,
            validation=_json_arg(validation, "--validation") or {})


@attribute_app.command("list")
def attribute_list(ctx: typer.Context, datastream: Annotated[int | None, typer.Option(help="Data stream id.")] = None,
                   json: JsonOpt = False) -> None:
    """List attributes."""
    _list(ctx, "attribute", datastream, json, "attributes",
          ["id", "datastream_id", "name", "type", "selector", "validation", "generated_by"])


@attribute_app.command("update")
def attribute_update(
    ctx: typer.Context,
    attribute_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    type: Annotated[str | None, typer.Option("--type")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    selector: Annotated[str | None, typer.Option()] = None,
    validation: Annotated[str | None, typer.Option(help="Rules as JSON.")] = None,
    json: JsonOpt = False,
) -> None:
    """Change an attribute."""
    changes = _changes(name=name, type=type, description=description, selector=selector)
    if validation is not None:
        changes["validation"] = _json_arg(validation, "--validation")
    _update(ctx, "attribute", attribute_id, changes, json)


@attribute_app.command("delete")
def attribute_delete(ctx: typer.Context, attribute_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete an attribute."""
    _delete(ctx, "attribute", attribute_id, yes, json)


# --------------------------------------------------------------------------- bundle


@bundle_app.command("create")
def bundle_create(
    ctx: typer.Context,
    name: str,
    topics: Annotated[str, typer.Option(help="Comma-separated topics, e.g. h1,meta,title.")],
    category: Annotated[str, typer.Option(help="e.g. seo.")],
    cron: Annotated[str | None, typer.Option(help="Schedule the workflow (cron expression).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone of --cron.")] = "UTC",
    url: Annotated[list[str] | None, typer.Option("--url", help="A page to fetch (repeat).")] = None,
    count: Annotated[int, typer.Option(help="Attributes to ask for per topic.")] = 5,
    json: JsonOpt = False,
) -> None:
    """Create campaign + workflow + service + data stream + generated attributes, all or nothing."""
    from lightdom_tui.usecases.campaign import BundleSpec, create_bundle

    result = create_bundle(workspace_from(ctx), BundleSpec(name, topics, category, cron, timezone, url or [], count))
    table = _list_table(f"bundle {markup_safe(repr(name))}: campaign {result.campaign_id}, "
                        f"workflow {result.workflow_id}", result.attributes, ["id", "topic", "name", "type", "generated_by"])

    def human(console: Console) -> None:
        table(console)
        for item in result.skipped:  # what was left out, and why: the branch was still created
            console.print(f"skipped {markup_safe(item['topic'])} / {markup_safe(item['item'])}: "
                          f"{markup_safe(item['reason'])}", highlight=False)

    emit(result, json, human)


# --------------------------------------------------------------------------- scheduler


@scheduler_app.command("run")
def scheduler_run(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between schedule checks.")] = 30.0,
    webhooks: Annotated[bool, typer.Option("--webhooks/--no-webhooks", help="Serve webhook triggers.")] = True,
    port: Annotated[int, typer.Option(help="Webhook port on 127.0.0.1.")] = 8766,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Run file-triggered workflows.")] = True,
    once: Annotated[bool, typer.Option("--once", help="One schedule check, then exit.")] = False,
    json: JsonOpt = False,
) -> None:
    """Run due scheduled workflows (plus webhook and file triggers) until Ctrl-C."""
    import signal
    import threading

    from lightdom_tui.usecases.campaign import run_scheduler, scheduler_tick

    ws = workspace_from(ctx)
    if once:
        result = scheduler_tick(ws)
        emit(result, json, lambda c: c.print(f"claimed {len(result.claimed)}, skipped {len(result.skipped)}"))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill PID` stops cleanly, like Ctrl-C

    def started(url: str | None) -> None:
        if not json:
            Console(stderr=True).print(f"scheduler running (every {interval:g}s)"
                                       + (f", webhooks on {url}" if url else "") + "; Ctrl-C stops")

    claimed = run_scheduler(ws, interval_s=interval, stop_event=stop, webhook_port=port if webhooks else None,
                            watch_files=watch, on_started=started)
    emit({"claimed": claimed}, json, lambda c: c.print(f"scheduler stopped; {claimed} run(s) claimed"))


@scheduler_app.command("tick")
def scheduler_tick(ctx: typer.Context,
                   now: Annotated[str | None, typer.Option(help="Pretend it is this time (ISO, UTC if naive).")] = None,
                   json: JsonOpt = False) -> None:
    """Claim and run whatever is due now (one check)."""
    from datetime import datetime

    from lightdom_tui.usecases.campaign import scheduler_tick

    moment = None
    if now:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise LightdomError(f"--now: {now!r} is not an ISO date-time") from None
    result = scheduler_tick(workspace_from(ctx), moment)
    emit(result, json, lambda c: c.print(f"claimed {len(result.claimed)}, skipped {len(result.skipped)}"))


@scheduler_app.command("due")
def scheduler_due(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Next due time of every scheduled workflow."""
    from lightdom_tui.usecases.campaign import scheduled_workflows

    rows = scheduled_workflows(workspace_from(ctx))
    emit({"workflows": rows}, json, _list_table("schedule", rows,
                                                ["workflow_id", "name", "status", "cron", "timezone", "next_due"]))
