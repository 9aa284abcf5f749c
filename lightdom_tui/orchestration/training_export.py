"""Turn workflow runs into training examples ("train on workflow data").

A completed run knows, per data stream, how often each attribute was extracted and
valid on real pages. The attributes that held up (valid rate ≥ ``min_valid_rate``)
are a good answer to "which attributes describe this topic, for this source?", so
each stream becomes one attribute-generation example — prompt rendered with the
product's template, a real sample row as context — added through the curation
engine (dedup-aware), pending review by default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Attribute, AttributeSuggestion, DataStream, Example, WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.destinations import read_rows
from lightdom_tui.prompts import ATTRIBUTE_TASK, render_attribute_messages
from lightdom_tui.workspace import Workspace

SOURCE = "workflow"
SAMPLE_CHARS = 400


@dataclass
class TrainingExport:
    """Examples made from one run."""

    run_id: int
    created: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _topic(session: Any, stream: DataStream) -> str:
    suggested = session.exec(select(AttributeSuggestion.topic).where(AttributeSuggestion.datastream_id == stream.id)
                             .order_by(AttributeSuggestion.id.desc())).first()  # type: ignore[union-attr]
    return suggested or stream.name


def _sample(ws: Workspace, stream: DataStream, run_id: int, names: list[str]) -> str | None:
    for row in read_rows(ws.root, stream.destination, stream.id, stream.name, limit=20, run_id=run_id):
        if row.get("_errors"):
            continue
        record = {n: row.get(n) for n in names if row.get(n) not in (None, "", "[]")}
        if record:
            return json.dumps(record, ensure_ascii=False)[:SAMPLE_CHARS]
    return None


def examples_from_run(ws: Workspace, workflow_id: int, *, run_id: int | None = None, min_valid_rate: float = 0.8,
                      min_pages: int = 1, status: str = "pending") -> TrainingExport:
    """One attribute-generation example per data stream of a completed run."""
    from lightdom_tui.curation.examples import add_example

    with ws.session() as session:
        query = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id, WorkflowRun.status == "completed")
        if run_id is not None:
            query = query.where(WorkflowRun.id == run_id)
        run = session.exec(query.order_by(WorkflowRun.id.desc())).first()  # type: ignore[union-attr]
        if run is None:
            raise LightdomError(f"workflow {workflow_id}: no completed run{f' {run_id}' if run_id else ''} to learn from")
        metrics = loads(run.metrics_json, {})
        out = TrainingExport(run_id=int(run.id))  # type: ignore[arg-type]
        if metrics.get("pages_ok", 0) < min_pages:
            out.skipped.append({"reason": f"only {metrics.get('pages_ok', 0)} good page(s) < min_pages {min_pages}"})
            return out
        before = session.exec(select(func.max(Example.id))).one() or 0
        for stream_id, counts in (metrics.get("attributes") or {}).items():
            stream = session.get(DataStream, int(stream_id))
            if stream is None:
                continue
            attributes = {a.name: a for a in tree.list_attributes(session, stream.id)}
            rates = {name: c["valid"] / max(1, c["valid"] + c["invalid"] + c["missing"]) for name, c in counts.items()}
            kept = [a for n, a in attributes.items() if rates.get(n, 0.0) >= min_valid_rate]  # stream order
            if not kept:
                out.skipped.append({"datastream_id": stream.id, "reason": f"no attribute valid on ≥{min_valid_rate:.0%}"
                                    " of pages"})
                continue
            topic = _topic(session, stream)
            context_parts = [f"Source: {stream.source}"] if stream.source else []
            sample = _sample(ws, stream, out.run_id, [a.name for a in kept])
            if sample:
                context_parts.append(f"Sample record: {sample}")
            messages = render_attribute_messages(topic, len(kept), "; ".join(context_parts) or None)
            messages.append({"role": "assistant", "content": dumps({"attributes": [_answer(a) for a in kept]})})
            example = add_example(session, messages, task_type=ATTRIBUTE_TASK, source=SOURCE, status=status,
                                  metadata={"topic": topic, "workflow_id": workflow_id, "run_id": out.run_id,
                                            "datastream_id": stream.id,
                                            "valid_rates": {a.name: round(rates[a.name], 4) for a in kept}})
            (out.created if example.id > before else out.duplicates).append(int(example.id))  # type: ignore[operator]
        return out


def _answer(attribute: Attribute) -> dict[str, Any]:
    item: dict[str, Any] = {"name": attribute.name, "type": attribute.type, "description": attribute.description}
    rules = loads(attribute.validation_json, {})
    if rules:
        item["validation"] = rules
    return item

