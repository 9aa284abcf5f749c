"""Attribute suggestions in the campaign tree: the model proposes, the user decides, the loop learns.

``suggest_attributes`` asks the serving router (local model, remote fallback) for
attributes of a topic and stores each as a *pending* ``AttributeSuggestion`` with
the model version, engine and A/B arm that produced it. Deciding on one:

- ``accept`` → an ``Attribute`` (``generated_by`` = the model version) and an
  *approved* curated example;
- ``edit`` → the corrected ``Attribute``; the model's original answer is kept as a
  *rejected* example and the correction as an *approved* one pointing to it (``parent_id``);
- ``reject`` → a *rejected* example with the reason, kept as a negative.

Each decision is also the A/B outcome of the arm that produced the suggestion.
The example's prompt is the one the model would get for "one more attribute for this
topic, given the stream's existing attributes", so what is trained is what is served.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Attribute, AttributeSuggestion, DataStream, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.prompts import ATTRIBUTE_TASK, render_attribute_messages
from lightdom_tui.workspace import Workspace

Generator = Callable[..., Any]
SOURCE = "campaign_tree"


@dataclass
class SuggestResult:
    """Suggestions stored for one request."""

    datastream_id: int
    topic: str
    model: str
    engine: str
    latency_ms: float
    arm: str | None
    ab_test_id: int | None
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # names the stream already has


@dataclass
class Decision:
    """Outcome of accept / edit / reject."""

    suggestion_id: int
    status: str
    attribute_id: int | None
    example_id: int | None
    parent_example_id: int | None = None


def default_generator() -> Generator:
    """The serving router's ``generate_attributes`` (imported lazily)."""
    from lightdom_tui.serving.router import generate_attributes

    return generate_attributes


def stream_context(session: Session, datastream_id: int, exclude: str | None = None) -> str | None:
    """Context for a prompt: the stream's source and the attributes it already has."""
    stream = tree.get_node(session, DataStream, datastream_id)
    names = [a.name for a in tree.list_attributes(session, datastream_id) if a.name != exclude]
    parts = []
    if stream.source:
        parts.append(f"Source: {stream.source}")
    if names:
        parts.append(f"Existing attributes: {', '.join(names)}")
    return "; ".join(parts) or None


def suggest_attributes(ws: Workspace, datastream_id: int, topic: str, count: int = 8, *,
                       context: str | None = None, generator: Generator | None = None) -> SuggestResult:
    """Ask the model for ``count`` attributes of ``topic`` and store them as pending suggestions."""
    if not isinstance(topic, str) or not topic.strip():
        raise LightdomError("topic: required, non-empty text")
    if not 1 <= count <= 50:
        raise LightdomError(f"count: {count} must be from 1 to 50")
    with ws.session() as session:
        if context is None:
            context = stream_context(session, datastream_id)
        existing = {a.name for a in tree.list_attributes(session, datastream_id)}
    generate = generator or default_generator()
    # no transaction is open while the model runs (the router writes its own request log)
    result = generate(ws, topic.strip(), count=count, context=context, task_type=ATTRIBUTE_TASK,
                      request_key=f"ds{datastream_id}:{uuid.uuid4().hex[:12]}")
    out = SuggestResult(datastream_id=datastream_id, topic=topic.strip(), model=result.model, engine=result.engine,
                        latency_ms=result.latency_ms, arm=result.arm, ab_test_id=result.ab_test_id)
    with ws.session() as session:
        for item in result.attributes:
            name = item.get("name")
            if name in existing:
                out.skipped.append(name)
                continue
            existing.add(name)
            row = AttributeSuggestion(
                datastream_id=datastream_id, topic=out.topic, name=name, type=item.get("type", "string"),
                description=str(item.get("description", "")), validation_json=dumps(item.get("validation") or {}),
                model_version=result.model, engine=result.engine, ab_test_id=result.ab_test_id, arm=result.arm,
                request_log_id=result.request_log_id,
            )
            session.add(row)
            session.flush()
            out.suggestions.append(suggestion_dict(row))
    return out


def suggestion_dict(row: AttributeSuggestion) -> dict[str, Any]:
    """A suggestion as plain data."""
    return tree.row_dict(row)


def list_suggestions(session: Session, datastream_id: int, status: str | None = "pending") -> list[AttributeSuggestion]:
    """Suggestions of a stream (pending by default)."""
    query = select(AttributeSuggestion).where(AttributeSuggestion.datastream_id == datastream_id)
    if status:
        query = query.where(AttributeSuggestion.status == status)
    return list(session.exec(query.order_by(AttributeSuggestion.id)).all())


def _pending(session: Session, suggestion_id: int) -> AttributeSuggestion:
    row = tree.get_node(session, AttributeSuggestion, suggestion_id)
    if row.status != "pending":
        raise LightdomError(f"suggestion {suggestion_id}: already {row.status}")
    return row


def _answer(name: str, kind: str, description: str, validation: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {"name": name, "type": kind, "description": description}
    if validation:
        attribute["validation"] = validation
    return attribute


def _example(session: Session, row: AttributeSuggestion, answer: dict[str, Any], *, status: str,
             decision: str, reason: str | None = None, parent_id: int | None = None) -> int:
    from lightdom_tui.curation.examples import add_example

    context = stream_context(session, row.datastream_id, exclude=answer["name"])
    messages = render_attribute_messages(row.topic, 1, context)
    messages.append({"role": "assistant", "content": dumps({"attributes": [answer]})})
    metadata = {"topic": row.topic, "datastream_id": row.datastream_id, "suggestion_id": row.id,
                "model": row.model_version, "engine": row.engine, "arm": row.arm, "ab_test_id": row.ab_test_id,
                "decision": decision}
    example = add_example(session, messages, task_type=ATTRIBUTE_TASK, source=SOURCE, status=status,
                          metadata=metadata, parent_id=parent_id, reject_reason=reason)
    return int(example.id)  # type: ignore[arg-type]


def _outcome(session: Session, row: AttributeSuggestion, accepted: bool) -> None:
    if row.ab_test_id is None or not row.arm:
        return
    from lightdom_tui.registry.ab import record_outcome

    record_outcome(session, row.ab_test_id, row.arm, signal="accept" if accepted else "reject",
                   success=accepted, request_key=f"suggestion:{row.id}")


def accept(session: Session, suggestion_id: int, *, selector: str | None = None) -> Decision:
    """Turn a pending suggestion into an attribute and an approved example."""
    row = _pending(session, suggestion_id)
    validation = loads(row.validation_json, {})
    attribute = tree.create_attribute(session, row.datastream_id, row.name, type=row.type,
                                      description=row.description, selector=selector, validation=validation,
                                      generated_by=row.model_version or "model")
    answer = _answer(row.name, row.type, row.description, validation)
    example_id = _example(session, row, answer, status="approved", decision="accepted")
    _outcome(session, row, True)
    _decide(session, row, "accepted", attribute_id=attribute.id, example_id=example_id)
    return Decision(suggestion_id, "accepted", attribute.id, example_id)


def edit(session: Session, suggestion_id: int, *, name: str | None = None, type: str | None = None,
         description: str | None = None, validation: dict[str, Any] | None = None,
         selector: str | None = None) -> Decision:
    """Accept a suggestion with corrections: corrected attribute + approved example; the original is a negative."""
    row = _pending(session, suggestion_id)
    original_validation = loads(row.validation_json, {})
    new = _answer(name or row.name, type or row.type, row.description if description is None else description,
                  original_validation if validation is None else validation)
    original = _answer(row.name, row.type, row.description, original_validation)
    if new == original:
        raise LightdomError(f"suggestion {suggestion_id}: edit changes nothing; use accept")
    attribute = tree.create_attribute(session, row.datastream_id, new["name"], type=new["type"],
                                      description=new["description"], selector=selector,
                                      validation=new.get("validation"), generated_by=row.model_version or "model")
    parent = _example(session, row, original, status="rejected", decision="edited",
                      reason="corrected by the user in the campaign tree")
    example_id = _example(session, row, new, status="approved", decision="edited", parent_id=parent)
    _outcome(session, row, True)
    _decide(session, row, "edited", attribute_id=attribute.id, example_id=example_id)
    return Decision(suggestion_id, "edited", attribute.id, example_id, parent_example_id=parent)


def reject(session: Session, suggestion_id: int, *, reason: str) -> Decision:
    """Reject a suggestion; it is kept as a negative example with the reason."""
    if not isinstance(reason, str) or not reason.strip():
        raise LightdomError("reason: required when rejecting a suggestion")
    row = _pending(session, suggestion_id)
    answer = _answer(row.name, row.type, row.description, loads(row.validation_json, {}))
    example_id = _example(session, row, answer, status="rejected", decision="rejected", reason=reason.strip())
    _outcome(session, row, False)
    _decide(session, row, "rejected", example_id=example_id, reason=reason.strip())
    return Decision(suggestion_id, "rejected", None, example_id)


def _decide(session: Session, row: AttributeSuggestion, status: str, *, attribute_id: int | None = None,
            example_id: int | None = None, reason: str | None = None) -> None:
    row.status = status
    row.decided_at = utcnow()
    row.attribute_id = attribute_id
    row.example_id = example_id
    row.reason = reason
    session.add(row)
    session.flush()


def existing_attribute(session: Session, datastream_id: int, name: str) -> Attribute | None:
    """The stream's attribute of that name, if any."""
    return session.exec(select(Attribute).where(Attribute.datastream_id == datastream_id,
                                                Attribute.name == name)).first()
