"""Bundles: one command creates campaign + workflow + service + data stream + generated attributes.

The model is asked first, for every topic, with no transaction open (the router
writes its own request log). Only when every answer is in does one transaction
create the whole branch; any failure — the model, a bad answer, a name clash —
rolls everything back, so nothing is ever half-created.
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


def _topics(topics: list[str] | str) -> list[str]:
    items = topics.split(",") if isinstance(topics, str) else list(topics)
    cleaned = [t.strip() for t in items if isinstance(t, str) and t.strip()]
    if not cleaned:
        raise LightdomError("topics: give at least one topic, e.g. --topics h1,meta,title")
    if len(set(cleaned)) != len(cleaned):
        raise LightdomError(f"topics: duplicate topic in {', '.join(cleaned)}")
    return cleaned


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
    topic_list = _topics(topics)
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
    for topic in topic_list:
        try:
            result = generator(ws, f"{category} {topic}", count=count,
                               context=f"Category: {category}; page element: {topic}",
                               task_type=ATTRIBUTE_TASK, request_key=f"bundle:{name}:{uuid.uuid4().hex[:8]}")
        except LightdomError as exc:
            raise LightdomError(f"bundle {name!r}: generating attributes for topic {topic!r} failed: {exc}") from exc
        except Exception as exc:
            raise LightdomError(f"bundle {name!r}: generating attributes for topic {topic!r} failed: "
                                f"{type(exc).__name__}: {exc}") from exc
        answers.append((topic, result))

    with ws.session() as session:  # one transaction: commit all or roll back all
        campaign = tree.create_campaign(session, name, description=f"{category} bundle: {', '.join(topic_list)}",
                                        status="active")
        workflow = tree.create_workflow(session, campaign.id, f"{name} workflow", trigger=trigger,
                                        trigger_config=trigger_config, status="active" if cron else "draft")
        service = tree.create_service(session, workflow.id, f"{name} pages", type="html", config=service_config)
        stream = tree.create_datastream(session, service.id, category, source=", ".join(topic_list))
        out = BundleResult(campaign.id, workflow.id, service.id, stream.id)  # type: ignore[arg-type]
        seen: set[str] = set()
        for topic, result in answers:
            if result.model not in out.models:
                out.models.append(result.model)
            for item in result.attributes:
                attr_name = item.get("name")
                if attr_name in seen:  # two topics proposing the same name: keep both, qualified
                    attr_name = f"{tree.check_attribute_name(topic.lower().replace('-', '_'))}_{attr_name}"
                attribute = tree.create_attribute(
                    session, stream.id, attr_name, type=item.get("type", "string"),  # type: ignore[arg-type]
                    description=str(item.get("description", "")), validation=item.get("validation"),
                    generated_by=result.model,
                )
                seen.add(attribute.name)
                out.attributes.append({"id": attribute.id, "name": attribute.name, "type": attribute.type,
                                       "topic": topic, "generated_by": attribute.generated_by})
        if not out.attributes:
            raise LightdomError(f"bundle {name!r}: the model proposed no attributes")
    return out
