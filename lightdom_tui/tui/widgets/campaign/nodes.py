"""The campaign tree's levels and the service calls behind each (list, create, update, forms)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lightdom_tui.safetext import markup_safe
from lightdom_tui.tui.screens.form import FormField
from lightdom_tui.usecases.campaign import (
    WORKFLOW_DEFAULT_STATUS,
    NodeChange,
    NodeCreated,
    NodeSpec,
    delete_node,
    field_choices,
    get_node,
    list_nodes,
)
from lightdom_tui.usecases.campaign import create_node as create
from lightdom_tui.usecases.campaign import update_node as update
from lightdom_tui.workspace import Workspace

KINDS = ("campaign", "workflow", "service", "datastream", "attribute")
CHILD = {"root": "campaign", "campaign": "workflow", "workflow": "service", "service": "datastream",
         "datastream": "attribute"}
ICON = {"campaign": "◆", "workflow": "⚙", "service": "⇄", "datastream": "≋", "attribute": "•"}

# Editable fields per kind: (key, label, placeholder). JSON fields are passed as text; the use case parses them.
FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "campaign": (("name", "name", ""), ("description", "description", ""),
                 ("status", "status", "draft / active / paused / done")),
    "workflow": (("name", "name", ""), ("trigger", "trigger", "manual / schedule / webhook / file"),
                 ("trigger_config", "trigger config (JSON)", '{"cron": "0 * * * *", "timezone": "UTC"}'),
                 ("status", "status", "draft / active / paused / disabled (only active ones run)"),
                 ("concurrency", "concurrency", "4")),
    "service": (("name", "name", ""), ("type", "type", "http / html / file / llm"),
                ("config", "config (JSON)", '{"urls": ["https://…"]}')),
    "datastream": (("name", "name", ""), ("source", "source", ""),
                   ("destination", "destination", "sqlite:TABLE or jsonl:PATH"),
                   ("transformations", "transformations (JSON)", "[]")),
    "attribute": (("name", "name", ""), ("type", "type", "string / number / boolean / array / object / date"),
                  ("description", "description", ""), ("selector", "selector", "CSS selector or JSON path"),
                  ("validation", "validation (JSON)", "{}")),
}
# Closed lists: fields whose values the services accept from a fixed set (a Select in the form).
CHOICES = field_choices()
# Triggers that need the scheduler process (manual runs need nothing)
SCHEDULER_TRIGGERS = ("schedule", "webhook", "file")
# What a new node's form starts with (the use case's own defaults, shown so they can be changed).
DEFAULTS = {"workflow": {"trigger": "manual", "status": WORKFLOW_DEFAULT_STATUS, "concurrency": "4"}}


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for."""

    kind: str  # root / campaign / workflow / service / datastream / attribute
    id: int | None
    name: str


def list_children(workspace: Workspace, parent: NodeRef) -> list[NodeRef]:
    """Children of ``parent`` (one use case call)."""
    kind = CHILD[parent.kind]
    return [NodeRef(kind, n.id, n.name) for n in list_nodes(workspace, kind, parent.id)]


def load_row(workspace: Workspace, node: NodeRef) -> dict[str, Any]:
    """The node's row as plain data (for the detail panel and the edit form)."""
    assert node.id is not None
    return get_node(workspace, node.kind, node.id).row


def _text(value: Any) -> str:
    """A row value as form text (JSON fields as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def form_fields(kind: str, row: dict[str, Any] | None = None) -> list[FormField]:
    """The form for creating (``row`` None) or editing a node."""
    start = row if row is not None else DEFAULTS.get(kind, {})
    return [FormField(key, label, _text(start.get(key)), placeholder, CHOICES.get((kind, key)))
            for key, label, placeholder in FIELDS[kind]]


def create_node(workspace: Workspace, kind: str, parent: NodeRef, values: dict[str, str]) -> NodeCreated:
    """Create a ``kind`` under ``parent`` with the form's values (the use case parses and validates)."""
    data = {k: v for k, v in values.items() if k != "name"}
    return create(workspace, NodeSpec(kind, parent.id, values.get("name", ""), data))


def update_node(workspace: Workspace, node: NodeRef, values: dict[str, str], original: dict[str, str]) -> NodeRef:
    """Apply only the changed fields."""
    changed = {k: v for k, v in values.items() if v != original.get(k)}
    if not changed:
        return node
    assert node.id is not None
    updated = update(workspace, NodeChange(node.kind, node.id, changed))
    return NodeRef(node.kind, updated.id, updated.name)


def delete(workspace: Workspace, node: NodeRef, confirm: bool) -> Any:
    """Delete a node; without ``confirm`` a node with children raises ConfirmationRequired (with counts)."""
    assert node.id is not None
    return delete_node(workspace, node.kind, node.id, confirm=confirm)


def describe(node: NodeRef, row: dict[str, Any]) -> str:
    """Detail panel text for a node's row (markup: every value from the row is escaped)."""
    lines = [f"[b]{node.kind} #{node.id} · {markup_safe(row['name'])}[/b]"]
    for key, label, _ in FIELDS[node.kind]:
        if key == "name":
            continue
        value = _text(row.get(key))
        lines.append(f"{label}: {markup_safe(value) if value else '–'}")
    if node.kind == "workflow" and row.get("trigger") in SCHEDULER_TRIGGERS:
        # The TUI does not run the scheduler (one process owns it, so a trigger never fires twice).
        lines.append(f"[yellow]a {markup_safe(row.get('trigger'))} trigger fires only while `lightdom scheduler run` runs "
                     "(not from this window); x runs it now[/yellow]")
    if node.kind == "workflow" and row.get("trigger") == "webhook":
        lines.append(f"webhook token: {'set' if row.get('webhook_token_set') else 'none (CLI: workflow token)'}")
    if node.kind == "attribute":
        lines.append(f"generated by: {markup_safe(row.get('generated_by'))}")
    return "\n".join(lines)
