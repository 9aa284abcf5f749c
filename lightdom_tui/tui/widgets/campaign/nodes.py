"""The campaign tree's levels and the service calls behind each (list, create, update, forms)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.tui.screens.form import FormField
from lightdom_tui.tui.services import service
from lightdom_tui.workspace import Workspace

KINDS = ("campaign", "workflow", "service", "datastream", "attribute")
CHILD = {"root": "campaign", "campaign": "workflow", "workflow": "service", "service": "datastream",
         "datastream": "attribute"}
ICON = {"campaign": "◆", "workflow": "⚙", "service": "⇄", "datastream": "≋", "attribute": "•"}
MODEL = {"campaign": "Campaign", "workflow": "Workflow", "service": "Service", "datastream": "DataStream",
         "attribute": "Attribute"}

# Editable fields per kind: (key, label, placeholder). JSON fields are passed as text; the service parses them.
FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "campaign": (("name", "name", ""), ("description", "description", ""),
                 ("status", "status", "draft / active / paused / done")),
    "workflow": (("name", "name", ""), ("trigger", "trigger", "manual / schedule / webhook / file"),
                 ("trigger_config", "trigger config (JSON)", '{"cron": "0 * * * *", "timezone": "UTC"}'),
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
# The row column holding each JSON field's current value.
JSON_COLUMNS = {"trigger_config": "trigger_config_json", "config": "config_json",
                "transformations": "transformations_json", "validation": "validation_json"}


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for."""

    kind: str  # root / campaign / workflow / service / datastream / attribute
    id: int | None
    name: str


def tree() -> Any:
    """The orchestration tree service."""
    return service("orchestration.tree")


def list_children(workspace: Workspace, parent: NodeRef) -> list[NodeRef]:
    """Children of ``parent`` via the tree service's list_* functions."""
    t = tree()
    kind = CHILD[parent.kind]
    with workspace.session() as session:
        rows = {
            "campaign": lambda: t.list_campaigns(session),
            "workflow": lambda: t.list_workflows(session, parent.id),
            "service": lambda: t.list_services(session, parent.id),
            "datastream": lambda: t.list_datastreams(session, parent.id),
            "attribute": lambda: t.list_attributes(session, parent.id),
        }[kind]()
        return [NodeRef(kind, row.id, row.name) for row in rows]


def load_row(workspace: Workspace, node: NodeRef) -> Any:
    """The database row of a node (for the detail panel and the edit form)."""
    from lightdom_tui.db import models

    with workspace.session() as session:
        return tree().get_node(session, getattr(models, MODEL[node.kind]), node.id)


def form_fields(kind: str, row: Any | None = None) -> list[FormField]:
    """The form for creating (``row`` None) or editing a node."""
    fields = []
    for key, label, placeholder in FIELDS[kind]:
        value = ""
        if row is not None:
            raw = getattr(row, JSON_COLUMNS.get(key, key), "")
            value = "" if raw is None else str(raw)
        fields.append(FormField(key, label, value, placeholder))
    return fields


def _typed(kind: str, values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in values.items():
        if key == "concurrency":
            try:
                out[key] = int(text or "4")
            except ValueError:
                raise LightdomError(f"{kind}.concurrency: {text!r} is not a whole number") from None
        elif key in JSON_COLUMNS:
            out[key] = text.strip() or None
        else:
            out[key] = text
    return out


def create_node(workspace: Workspace, kind: str, parent: NodeRef, values: dict[str, str]) -> NodeRef:
    """Create a ``kind`` under ``parent`` with the form's values (the service validates)."""
    t = tree()
    data = {k: v for k, v in _typed(kind, values).items() if v not in (None, "")}
    name = data.pop("name", "")
    with workspace.session() as session:
        if kind == "campaign":
            row = t.create_campaign(session, name, **data)
        else:
            row = getattr(t, f"create_{kind}")(session, parent.id, name, **data)
        session.flush()
        return NodeRef(kind, row.id, row.name)


def update_node(workspace: Workspace, node: NodeRef, values: dict[str, str], original: dict[str, str]) -> NodeRef:
    """Apply only the changed fields."""
    changed = {k: v for k, v in values.items() if v != original.get(k)}
    if not changed:
        return node
    with workspace.session() as session:
        row = getattr(tree(), f"update_{node.kind}")(session, node.id, **_typed(node.kind, changed))
        return NodeRef(node.kind, row.id, row.name)


def delete(workspace: Workspace, node: NodeRef, confirm: bool) -> Any:
    """Delete a node; without ``confirm`` a node with children raises ConfirmationRequired (with counts)."""
    with workspace.session() as session:
        return tree().delete_node(session, node.kind, node.id, confirm=confirm)


def describe(node: NodeRef, row: Any) -> str:
    """Detail panel text for a node's row."""
    lines = [f"[b]{node.kind} #{node.id} · {row.name}[/b]"]
    for key, label, _ in FIELDS[node.kind]:
        if key == "name":
            continue
        value = getattr(row, JSON_COLUMNS.get(key, key), None)
        if key in JSON_COLUMNS and value:
            try:
                value = json.dumps(json.loads(value), ensure_ascii=False)
            except ValueError:
                pass
        lines.append(f"{label}: {value if value not in (None, '') else '–'}")
    if node.kind == "attribute":
        lines.append(f"generated by: {row.generated_by}")
    return "\n".join(lines)
