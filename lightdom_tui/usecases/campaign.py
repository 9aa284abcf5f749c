"""Campaign tree use cases: create / change / delete / list nodes, workflows and their tokens.

Both faces send field values as they received them (JSON options as text, numbers
as text or int); they are parsed here, once, with errors that name the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.usecases.options import parse_int_option, parse_json_option
from lightdom_tui.workspace import Workspace

KINDS = ("campaign", "workflow", "service", "datastream", "attribute")
PARENT = {"workflow": "campaign", "service": "workflow", "datastream": "service", "attribute": "datastream"}
JSON_FIELDS = ("trigger_config", "config", "transformations", "validation")
INT_FIELDS = {"concurrency": 4}
# Fields a node of each kind takes besides its name (what `update` may change).
FIELDS: dict[str, tuple[str, ...]] = {
    "campaign": ("description", "status", "start_date", "end_date"),
    "workflow": ("trigger", "trigger_config", "status", "concurrency"),
    "service": ("type", "config"),
    "datastream": ("source", "destination", "transformations"),
    "attribute": ("type", "description", "selector", "validation"),
}
WORKFLOW_DEFAULT_STATUS = "draft"


def field_choices() -> dict[tuple[str, str], tuple[str, ...]]:
    """(node kind, field) → the values the services accept, for fields that are closed lists (forms offer them)."""
    from lightdom_tui.db.models import ATTRIBUTE_TYPE_VALUES, CAMPAIGN_STATUS_VALUES, SERVICE_TYPE_VALUES
    from lightdom_tui.orchestration.tree import WORKFLOW_STATUS_VALUES
    from lightdom_tui.orchestration.triggers import TRIGGER_VALUES

    return {
        ("campaign", "status"): CAMPAIGN_STATUS_VALUES,
        ("workflow", "trigger"): TRIGGER_VALUES,
        ("workflow", "status"): WORKFLOW_STATUS_VALUES,
        ("service", "type"): SERVICE_TYPE_VALUES,
        ("attribute", "type"): ATTRIBUTE_TYPE_VALUES,
    }


@dataclass(frozen=True)
class WorkflowSpec:
    """A new workflow as a user describes it (``trigger_config`` may be JSON text)."""

    campaign_id: int
    name: str
    trigger: str = "manual"
    trigger_config: Any = None
    status: str = WORKFLOW_DEFAULT_STATUS
    concurrency: Any = 4


@dataclass
class NodeCreated:
    """A created node as stored; a webhook workflow's token is returned once, here only."""

    kind: str
    id: int
    name: str
    row: dict[str, Any]
    webhook_token: str | None = None
    notes: list[str] = field(default_factory=list)


WorkflowCreated = NodeCreated


@dataclass(frozen=True)
class NodeSpec:
    """A new node of ``kind`` under ``parent_id`` (None for a campaign) with its field values."""

    kind: str
    parent_id: int | None
    name: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeChange:
    """New values for some fields of one node (``name`` included)."""

    kind: str
    id: int
    changes: dict[str, Any]


@dataclass
class NodeRow:
    """One node's row as plain data (JSON columns parsed, token hashes hidden)."""

    kind: str
    id: int
    name: str
    row: dict[str, Any]


def _typed(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """Form/flag values → service values: JSON parsed, numbers checked, unknown fields refused."""
    allowed = set(FIELDS[kind]) | {"name"}
    unknown = set(values) - allowed
    if unknown:
        raise LightdomError(f"{kind}: unknown field(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in JSON_FIELDS:
            out[key] = parse_json_option(value, f"{kind}.{key}")
        elif key in INT_FIELDS:
            out[key] = parse_int_option(value, f"{kind}.{key}", INT_FIELDS[key])
        else:
            out[key] = value
    return out


def _workflow_notes(row: dict[str, Any]) -> list[str]:
    # The scheduler and the file watcher run only active workflows (a webhook answers unless paused/disabled).
    if row.get("trigger") in ("schedule", "file") and row.get("status") != "active":
        return [f"workflow {row['id']} is {row['status']}: its {row['trigger']} trigger fires only once it is "
                f"active (`lightdom workflow update {row['id']} --status active`, or E in the TUI)"]
    return []


def create_workflow(ws: Workspace, spec: WorkflowSpec) -> NodeCreated:
    """Create a workflow; a webhook workflow gets its secret token in the same transaction."""
    from lightdom_tui.orchestration import tree
    from lightdom_tui.orchestration.webhook import issue_token

    values = _typed("workflow", {"trigger_config": spec.trigger_config, "concurrency": spec.concurrency})
    with ws.session() as session:
        workflow = tree.create_workflow(session, spec.campaign_id, spec.name, trigger=spec.trigger,
                                        trigger_config=values["trigger_config"], status=spec.status or
                                        WORKFLOW_DEFAULT_STATUS, concurrency=values["concurrency"])
        token = issue_token(session, workflow.id) if workflow.trigger == "webhook" else None
        row = tree.row_dict(workflow)
    return NodeCreated("workflow", row["id"], row["name"], row, token, _workflow_notes(row))


def create_node(ws: Workspace, spec: NodeSpec) -> NodeCreated:
    """Create a node of any kind (a workflow through :func:`create_workflow`)."""
    from lightdom_tui.orchestration import tree

    if spec.kind not in KINDS:
        raise LightdomError(f"kind: {spec.kind!r} is not one of {', '.join(KINDS)}")
    values = {k: v for k, v in spec.values.items() if v is not None and v != ""}
    if spec.kind == "workflow":
        assert spec.parent_id is not None
        return create_workflow(ws, WorkflowSpec(spec.parent_id, spec.name, **values))
    data = _typed(spec.kind, values)
    with ws.session() as session:
        if spec.kind == "campaign":
            row = tree.create_campaign(session, spec.name, **data)
        else:
            if spec.parent_id is None:
                raise LightdomError(f"{spec.kind}: needs a {PARENT[spec.kind]} to belong to")
            row = getattr(tree, f"create_{spec.kind}")(session, spec.parent_id, spec.name, **data)
        session.flush()
        plain = tree.row_dict(row)
    return NodeCreated(spec.kind, plain["id"], plain["name"], plain)


def update_node(ws: Workspace, change: NodeChange) -> NodeRow:
    """Change some fields of one node (a webhook token survives unless the trigger changes)."""
    from lightdom_tui.orchestration import tree

    if not change.changes:
        raise LightdomError("update: give at least one field to change")
    data = _typed(change.kind, change.changes)
    with ws.session() as session:
        row = getattr(tree, f"update_{change.kind}")(session, change.id, **data)
        plain = tree.row_dict(row)
    return NodeRow(change.kind, plain["id"], plain["name"], plain)


def delete_node(ws: Workspace, kind: str, node_id: int, *, confirm: bool = False) -> Any:
    """Delete a node; one with children raises ``ConfirmationRequired`` (with counts) unless ``confirm``."""
    from lightdom_tui.orchestration.tree import delete_node as delete

    with ws.session() as session:
        return delete(session, kind, node_id, confirm=confirm)


def list_nodes(ws: Workspace, kind: str, parent_id: int | None = None) -> list[NodeRow]:
    """Nodes of ``kind``, optionally only the children of ``parent_id``."""
    from lightdom_tui.orchestration import tree

    if kind not in KINDS:
        raise LightdomError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    with ws.session() as session:
        rows = tree.list_campaigns(session) if kind == "campaign" else getattr(tree, f"list_{kind}s")(session, parent_id)
        return [NodeRow(kind, r.id, r.name, tree.row_dict(r)) for r in rows]


def get_node(ws: Workspace, kind: str, node_id: int) -> NodeRow:
    """One node's row."""
    from lightdom_tui.db import models
    from lightdom_tui.orchestration import tree

    model = {"campaign": models.Campaign, "workflow": models.Workflow, "service": models.Service,
             "datastream": models.DataStream, "attribute": models.Attribute}[kind]
    with ws.session() as session:
        row = tree.get_node(session, model, node_id)
        return NodeRow(kind, row.id, row.name, tree.row_dict(row))


@dataclass
class CampaignTree:
    """A campaign's row, its nested document and its tree (kind, id, label, children)."""

    row: dict[str, Any]
    workflows: list[dict[str, Any]]
    children: list[dict[str, Any]]


def show_campaign(ws: Workspace, ref: str) -> CampaignTree:
    """A campaign by id or name with its whole tree."""
    from lightdom_tui.orchestration.documents import export_campaign
    from lightdom_tui.orchestration.tree import children, find_campaign, row_dict

    with ws.session() as session:
        campaign = find_campaign(session, ref)

        def walk(kind: str | None, node_id: int | None) -> list[dict[str, Any]]:
            return [{"kind": c.kind, "id": c.id, "label": c.label, "children": walk(c.kind, c.id)}
                    for c in children(session, kind, node_id)]

        return CampaignTree(row_dict(campaign), export_campaign(session, campaign.id)["campaign"]["workflows"],
                            walk("campaign", campaign.id))


def show_workflow(ws: Workspace, workflow_id: int) -> dict[str, Any]:
    """A workflow's row with its services, streams and attributes."""
    from lightdom_tui.db.models import Workflow
    from lightdom_tui.orchestration.documents import export_workflow
    from lightdom_tui.orchestration.tree import get_node as get, row_dict

    with ws.session() as session:
        return {**row_dict(get(session, Workflow, workflow_id)),
                "services": export_workflow(session, workflow_id)["workflow"]["services"]}


@dataclass
class DocumentWritten:
    """Where an exported document went and how many workflows it holds."""

    path: str
    workflows: int


def export_document(ws: Workspace, kind: str, ref: str | int, path: Path) -> DocumentWritten:
    """Export a campaign (by id or name) or one workflow as a JSON or YAML document."""
    from lightdom_tui.orchestration.documents import export_campaign, export_workflow, write_document

    with ws.session() as session:
        doc = export_campaign(session, ref) if kind == "campaign" else export_workflow(session, int(ref))
    written = write_document(doc, path)
    count = len(doc["campaign"]["workflows"]) if kind == "campaign" else 1
    return DocumentWritten(str(written), count)


def import_document(ws: Workspace, kind: str, path: Path, *, name: str | None = None,
                    campaign_id: int | None = None) -> NodeRow:
    """Import a campaign (or a workflow into ``campaign_id``) document, all or nothing."""
    from lightdom_tui.orchestration import documents
    from lightdom_tui.orchestration.tree import row_dict

    doc = documents.read_document(path)
    with ws.session() as session:
        if kind == "campaign":
            row = documents.import_campaign(session, doc, name=name)
        else:
            row = documents.import_workflow(session, doc, campaign_id, name=name)
        plain = row_dict(row)
    return NodeRow(kind, plain["id"], plain["name"], plain)


def issue_webhook_token(ws: Workspace, workflow_id: int) -> str:
    """Issue (or rotate) a webhook workflow's secret token; only its hash is stored."""
    from lightdom_tui.orchestration.webhook import issue_token

    with ws.session() as session:
        return issue_token(session, workflow_id)


# --------------------------------------------------------------------------- workflow runs


def run_workflow(ws: Workspace, workflow_id: int, *, deadline_s: float | None = None, progress: Any = None) -> Any:
    """Run a workflow now in this thread; None when it is already running."""
    from lightdom_tui.orchestration.executor import run_workflow as run

    return run(ws, workflow_id, deadline_s=deadline_s, progress=progress)


def stop_workflow(ws: Workspace, workflow_id: int, run_id: int | None = None) -> list[int]:
    """Ask a workflow's running runs (or one run) to stop; the ids asked."""
    from lightdom_tui.orchestration.executor import request_stop

    with ws.session() as session:
        return request_stop(session, workflow_id=workflow_id, run_id=run_id)


@dataclass
class LogLine:
    """One line of a workflow run's log."""

    run_id: int
    time: str
    level: str
    message: str


def workflow_logs(ws: Workspace, workflow_id: int | None, *, run_id: int | None = None, limit: int = 200,
                  level: str | None = None) -> list[LogLine]:
    """Log lines of a workflow's latest run (or of one run)."""
    from lightdom_tui.orchestration.executor import run_logs

    with ws.session() as session:
        return [LogLine(r.run_id, r.created_at.isoformat(), r.level, r.message)
                for r in run_logs(session, workflow_id=None if run_id else workflow_id, run_id=run_id,
                                  limit=limit, level=level)]


def workflow_metrics(ws: Workspace, workflow_id: int, *, limit: int = 20) -> Any:
    """Per-run metrics and totals of a workflow."""
    from lightdom_tui.orchestration.executor import workflow_metrics as metrics

    with ws.session() as session:
        return metrics(session, workflow_id, limit=limit)


# --------------------------------------------------------------------------- suggestions


@dataclass
class SuggestionRow:
    """A model suggestion waiting for a decision."""

    id: int
    name: str
    type: str
    description: str
    model_version: str | None
    data: dict[str, Any]


def list_suggestions(ws: Workspace, datastream_id: int, status: str | None = "pending") -> list[SuggestionRow]:
    """Suggestions of a data stream (pending by default)."""
    from lightdom_tui.orchestration.suggest import list_suggestions as rows, suggestion_dict

    with ws.session() as session:
        return [SuggestionRow(r.id, r.name, r.type, r.description, r.model_version, suggestion_dict(r))
                for r in rows(session, datastream_id, status)]


def suggest_attributes(ws: Workspace, datastream_id: int, topic: str, count: int = 8, *,
                       context: str | None = None) -> Any:
    """Ask the deployed model (through the router) for attributes of a data stream; stored as pending."""
    from lightdom_tui.orchestration.suggest import suggest_attributes as suggest

    return suggest(ws, datastream_id, topic, count, context=context)


@dataclass(frozen=True)
class SuggestionDecision:
    """accept / edit / reject one suggestion; ``values`` carry the edit or the reason."""

    suggestion_id: int
    decision: str
    values: dict[str, Any] = field(default_factory=dict)


def decide_suggestion(ws: Workspace, request: SuggestionDecision) -> Any:
    """Record the decision: an attribute, a curated example and the A/B outcome, in one transaction."""
    from lightdom_tui.orchestration import suggest

    values = _typed("attribute", {k: v for k, v in request.values.items() if k != "reason" and v is not None})
    with ws.session() as session:
        if request.decision == "accept":
            return suggest.accept(session, request.suggestion_id, **values)
        if request.decision == "reject":
            return suggest.reject(session, request.suggestion_id, reason=str(request.values.get("reason") or ""))
        if request.decision == "edit":
            return suggest.edit(session, request.suggestion_id, **values)
    raise LightdomError(f"decision: {request.decision!r} is not accept, edit or reject")


# --------------------------------------------------------------------------- bundles


@dataclass(frozen=True)
class BundleSpec:
    """A whole campaign branch for some topics (topics and urls as lists or comma-separated text)."""

    name: str
    topics: Any
    category: str = ""
    cron: str | None = None
    timezone: str = "UTC"
    urls: Any = None
    count: Any = 5


def create_bundle(ws: Workspace, spec: BundleSpec) -> Any:
    """campaign → workflow → service → data stream, with generated attributes per topic."""
    from lightdom_tui.orchestration.bundles import create_bundle as create
    from lightdom_tui.usecases.options import split_list

    urls = split_list(spec.urls) if isinstance(spec.urls, str) else list(spec.urls or [])
    return create(ws, spec.name, topics=spec.topics, category=spec.category, cron=spec.cron or None,
                  timezone=spec.timezone or "UTC", urls=urls, count=parse_int_option(spec.count, "count", 5))


def datastream_rows(ws: Workspace, datastream_id: int, *, limit: int = 20, run_id: int | None = None) -> list[Any]:
    """The latest rows written to a data stream's destination."""
    from lightdom_tui.db.models import DataStream
    from lightdom_tui.orchestration.destinations import read_rows
    from lightdom_tui.orchestration.tree import get_node as get

    with ws.session() as session:
        stream = get(session, DataStream, datastream_id)
    return read_rows(ws.root, stream.destination, stream.id, stream.name, limit=limit, run_id=run_id)


def datastream_row_count(ws: Workspace, datastream_id: int, *, run_id: int | None = None) -> int:
    """How many rows a data stream's destination holds (all runs, or one run)."""
    from lightdom_tui.db.models import DataStream
    from lightdom_tui.orchestration.destinations import count_rows
    from lightdom_tui.orchestration.tree import get_node as get

    with ws.session() as session:
        stream = get(session, DataStream, datastream_id)
    return count_rows(ws.root, stream.destination, stream.id, stream.name, run_id=run_id)


def training_examples_from_run(ws: Workspace, workflow_id: int, *, run_id: int | None = None,
                               min_valid_rate: float = 0.8, status: str = "pending") -> Any:
    """Turn a completed workflow run into attribute-generation training examples."""
    from lightdom_tui.orchestration.training_export import examples_from_run

    return examples_from_run(ws, workflow_id, run_id=run_id, min_valid_rate=min_valid_rate, status=status)


# --------------------------------------------------------------------------- scheduler


def scheduler_tick(ws: Workspace, now: Any = None) -> Any:
    """Claim and run whatever is due now (one check)."""
    from lightdom_tui.orchestration.scheduler import tick

    return tick(ws, now)


def scheduled_workflows(ws: Workspace) -> list[dict[str, Any]]:
    """Next due time of every scheduled workflow."""
    from lightdom_tui.orchestration.scheduler import upcoming

    with ws.session() as session:
        return upcoming(session)


def run_scheduler(ws: Workspace, *, interval_s: float, stop_event: Any, webhook_port: int | None = None,
                  watch_files: bool = True, on_started: Any = None) -> int:
    """Run due schedules (plus webhook and file triggers) until ``stop_event``; how many runs were claimed."""
    import threading

    from lightdom_tui.orchestration.scheduler import check_interval
    from lightdom_tui.orchestration.scheduler import run_scheduler as loop

    interval_s = check_interval(interval_s)  # before the webhook, the watcher or "running" are started
    server = watcher = None
    if webhook_port is not None:
        from lightdom_tui.orchestration.webhook import WebhookServer

        server = WebhookServer(ws, port=webhook_port).start()
    if watch_files:
        from lightdom_tui.orchestration.filewatch import watch_files as watch

        watcher = threading.Thread(target=watch, args=(ws,), kwargs={"stop_event": stop_event}, daemon=True)
        watcher.start()
    if on_started is not None:
        on_started(server.url if server is not None else None)
    claimed = 0
    try:
        claimed = loop(ws, interval_s=interval_s, stop_event=stop_event)
    except KeyboardInterrupt:
        pass
    finally:
        stop_event.set()
        if server is not None:
            server.stop()
        if watcher is not None:
            watcher.join(timeout=5)
    return claimed
