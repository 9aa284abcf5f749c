"""Bundles: one command creates campaign + workflow + service + data stream + generated attributes.

Topics are taken as people write them ("page title") and named in snake_case
("page_title"); so are the attribute names the model proposes. The model is asked
first, for every topic, with no transaction open (the router writes its own request
log). One bad item — a topic the model fails on, an attribute with an unknown type —
is left out and reported in ``BundleResult.skipped``; the rest is created in one
transaction. Nothing is created when nothing usable is left, or on a name clash of the
bundle itself, so a bundle is never half-created.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from lightdom_tui.db.models import Campaign
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.triggers import check_trigger
from lightdom_tui.prompts import ATTRIBUTE_TASK
from lightdom_tui.workspace import Workspace

Generator = Callable[..., Any]


@dataclass
class BundleResult:
    """The branch a bundle created."""

    campaign_id: int
    workflow_id: int
    service_id: int
    datastream_id: int
    attributes: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"topic", "item", "reason"} per item left out


def _skip(skipped: list[dict[str, str]], topic: str, item: str, reason: str) -> None:
    skipped.append({"topic": topic, "item": item, "reason": reason})


def _topics(topics: list[str] | str, skipped: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(text, snake_case name) per usable topic; unusable ones and repeats go to ``skipped``."""
    items = topics.split(",") if isinstance(topics, str) else list(topics)
    found: list[tuple[str, str]] = []
    names: set[str] = set()
    for item in items:
        text = item.strip() if isinstance(item, str) else ""
        if not text:
            continue
        name = tree.snake_name(text)
        if name is None:
            _skip(skipped, text, text, "no letters or digits to name it by")
        elif name in names:
            _skip(skipped, text, text, f"same name as an earlier topic ({name})")
        else:
            names.add(name)
            found.append((text, name))
    if not found:
        raise LightdomError("topics: give at least one topic, e.g. --topics 'h1, meta, page title'"
                            + (f" ({'; '.join(s['item'] + ': ' + s['reason'] for s in skipped)})" if skipped else ""))
    return found


def create_bundle(
    ws: Workspace,
    name: str,
    *,
    topics: list[str] | str,
    category: str,
    cron: str | None = None,
    timezone: str = "UTC",
    urls: list[str] | None = None,
    count: int = 5,
    generator: Generator | None = None,
) -> BundleResult:
    """Create the whole branch for ``topics`` of ``category`` in one transaction (all or nothing)."""
    name = tree.check_name(name, "bundle.name")
    category = tree.check_name(category, "category")
    skipped: list[dict[str, str]] = []
    topic_list = _topics(topics, skipped)
    if not 1 <= count <= 20:
        raise LightdomError(f"count: {count} must be from 1 to 20")
    trigger = "schedule" if cron else "manual"
    trigger_config = check_trigger(trigger, {"cron": cron, "timezone": timezone} if cron else {})
    service_config = tree.check_service_config("html", {"urls": list(urls or [])})
    with ws.session() as session:
        if session.exec(select(Campaign.id).where(Campaign.name == name)).first() is not None:
            raise LightdomError(f"bundle.name: campaign {name!r} already exists")

    if generator is None:
        from lightdom_tui.serving.router import generate_attributes as generator
    answers = []
    for topic, topic_name in topic_list:
        try:
            result = generator(ws, f"{category} {topic}", count=count,
                               context=f"Category: {category}; page element: {topic}",
                               task_type=ATTRIBUTE_TASK, request_key=f"bundle:{name}:{uuid.uuid4().hex[:8]}")
        except Exception as exc:  # this topic is left out; the others go on
            reason = str(exc) if isinstance(exc, LightdomError) else f"{type(exc).__name__}: {exc}"
            _skip(skipped, topic, topic, f"generating attributes failed: {reason}"[:500])
            continue
        answers.append((topic, topic_name, result))
    if not answers:
        raise LightdomError(f"bundle {name!r}: generating attributes failed for every topic: "
                            + "; ".join(f"{s['topic']}: {s['reason']}" for s in skipped))

    with ws.session() as session:  # one transaction: the usable items, or nothing
        used = [text for text, _name in topic_list if any(text == a[0] for a in answers)]
        campaign = tree.create_campaign(session, name, description=f"{category} bundle: {', '.join(used)}",
                                        status="active")
        workflow = tree.create_workflow(session, campaign.id, f"{name} workflow", trigger=trigger,
                                        trigger_config=trigger_config, status="active" if cron else "draft")
        service = tree.create_service(session, workflow.id, f"{name} pages", type="html", config=service_config)
        stream = tree.create_datastream(session, service.id, category, source=", ".join(used))
        out = BundleResult(campaign.id, workflow.id, service.id, stream.id, skipped=skipped)  # type: ignore[arg-type]
        seen: set[str] = set()
        for topic, topic_name, result in answers:
            for item in result.attributes:
                _add_attribute(session, stream.id, topic, topic_name, item, result.model, seen, out)
        if not out.attributes:
            raise LightdomError(f"bundle {name!r}: no usable attribute was proposed"
                                + (f" ({'; '.join(s['item'] + ': ' + s['reason'] for s in skipped)})"
                                   if skipped else ""))
    return out


def _add_attribute(session: Any, stream_id: int, topic: str, topic_name: str, item: Any, model: str,
                   seen: set[str], out: BundleResult) -> None:
    """Create one proposed attribute (named in snake_case, qualified by topic on a repeat); a bad one is skipped."""
    raw = item.get("name") if isinstance(item, dict) else None
    attr_name = tree.snake_name(raw)
    shown = str(raw if raw is not None else item)[:200]
    if attr_name is None:
        _skip(out.skipped, topic, shown, "no usable attribute name")
        return
    if attr_name in seen:  # two topics proposing the same name: keep both, qualified
        attr_name = f"{topic_name}_{attr_name}"
    try:
        attribute = tree.create_attribute(
            session, stream_id, attr_name, type=item.get("type", "string"),
            description=str(item.get("description", "")), validation=item.get("validation"), generated_by=model,
        )
    except LightdomError as exc:  # checked before anything is added: the session stays clean
        _skip(out.skipped, topic, shown, str(exc))
        return
    seen.add(attribute.name)
    if model not in out.models:
        out.models.append(model)
    out.attributes.append({"id": attribute.id, "name": attribute.name, "type": attribute.type,
                           "topic": topic, "generated_by": attribute.generated_by})
