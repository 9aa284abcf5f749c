"""CRUD for the campaign tree (Campaign → Workflow → Service → DataStream → Attribute).

Pure DB helpers: each takes a ``Session`` (the caller owns the transaction, so a
bundle can create a whole branch atomically). Every input is validated with an
error naming the field. Deleting a node that has children needs ``confirm=True``;
without it :class:`ConfirmationRequired` says what would go.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from lightdom_tui.bounds import row_id
from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import (
    ATTRIBUTE_TYPE_VALUES,
    CAMPAIGN_STATUS_VALUES,
    SERVICE_TYPE_VALUES,
    Attribute,
    AttributeSuggestion,
    Campaign,
    DataStream,
    Service,
    Workflow,
    WorkflowRun,
)
from lightdom_tui.errors import ConfirmationRequired, LightdomError
from lightdom_tui.orchestration.transform import check_transformations
from lightdom_tui.orchestration.triggers import check_trigger
from lightdom_tui.orchestration.validate import check_rules

WORKFLOW_STATUS_VALUES = ("draft", "active", "paused", "disabled")
NAME_MAX = 200
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T", bound=SQLModel)


# --------------------------------------------------------------------------- field checks


def check_name(value: Any, where: str) -> str:
    """A non-empty name of at most NAME_MAX characters (stripped); errors name ``where``."""
    if not isinstance(value, str) or not value.strip():
        raise LightdomError(f"{where}: required, non-empty text")
    value = value.strip()
    if len(value) > NAME_MAX:
        raise LightdomError(f"{where}: longer than {NAME_MAX} characters")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise LightdomError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _date(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise LightdomError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = loads(value, {})
        except ValueError as exc:
            raise LightdomError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LightdomError(f"{where}: expected a JSON object")
    return value


def check_service_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate a service config for its type; errors name the key."""
    where = "service.config"
    if kind in ("http", "html"):
        urls = config.get("urls")
        if urls is None and "url" in config:
            urls = [config["url"]]
        if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
            raise LightdomError(f"{where}.urls: expected a list of URLs")
        for index, url in enumerate(urls or []):
            if not url.startswith(("http://", "https://")):
                raise LightdomError(f"{where}.urls[{index}]: {url!r} is not an http(s) URL")
    if kind == "file":
        paths = config.get("paths")
        if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
            raise LightdomError(f"{where}.paths: expected a list of file paths or globs")
    if kind == "llm":
        topics = config.get("topics")
        if topics is not None and (not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)):
            raise LightdomError(f"{where}.topics: expected a list of topics")
    for key in ("timeout_s", "max_bytes", "retries", "count"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise LightdomError(f"{where}.{key}: must be a non-negative number")
    fmt = config.get("format")
    if fmt is not None and fmt not in ("html", "json"):
        raise LightdomError(f"{where}.format: {fmt!r} is not one of html, json")
    return config


def check_destination(value: Any) -> str:
    """``sqlite:TABLE`` or ``jsonl:PATH`` (empty = a SQLite table named after the stream)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise LightdomError("datastream.destination: expected 'sqlite:TABLE' or 'jsonl:PATH'")
    kind, _, target = value.partition(":")
    if kind == "sqlite" and TABLE_NAME.match(target):
        return value
    if kind == "jsonl" and target.strip():
        return value
    raise LightdomError(f"datastream.destination: {value!r} is not 'sqlite:TABLE' (letters, digits, _) or 'jsonl:PATH'")


def check_attribute_name(value: Any) -> str:
    """A snake_case attribute name."""
    name = check_name(value, "attribute.name")
    if not ATTRIBUTE_NAME.match(name):
        raise LightdomError(f"attribute.name: {name!r} must be snake_case (a-z, 0-9, _; starting with a letter)")
    return name


def snake_name(text: Any) -> str | None:
    """Text as people write it ("Page title", "og:image") as a snake_case name; None when nothing is left."""
    if not isinstance(text, str):
        return None
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # "título" → "titulo"
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.strip().lower()).strip("_")[:NAME_MAX - 2]
    if not name:
        return None
    return name if name[0].isalpha() else f"n_{name}"


# --------------------------------------------------------------------------- generic


def get_node(session: Session, model: type[T], node_id: int) -> T:
    """Fetch one row or raise an error naming the kind and id."""
    row = session.get(model, node_id)
    if row is None:
        raise LightdomError(f"{model.__name__.lower()} {node_id}: not found")
    return row


def _count(session: Session, model: type[SQLModel], column: Any, ids: list[int]) -> int:
    if not ids:
        return 0
    return int(session.exec(select(func.count()).select_from(model).where(column.in_(ids))).one())


def _ids(session: Session, column: Any, parent_column: Any, parent_ids: list[int]) -> list[int]:
    if not parent_ids:
        return []
    return list(session.exec(select(column).where(parent_column.in_(parent_ids))).all())


def descendant_counts(session: Session, kind: str, node_id: int) -> dict[str, int]:
    """How many rows a delete of ``kind`` ``node_id`` would take with it."""
    counts: dict[str, int] = {}
    workflows = [node_id] if kind == "workflow" else []
    services = [node_id] if kind == "service" else []
    streams = [node_id] if kind == "datastream" else []
    if kind == "campaign":
        workflows = _ids(session, Workflow.id, Workflow.campaign_id, [node_id])
        counts["workflows"] = len(workflows)
    if kind in ("campaign", "workflow"):
        services = _ids(session, Service.id, Service.workflow_id, workflows)
        counts["services"] = len(services)
        counts["runs"] = _count(session, WorkflowRun, WorkflowRun.workflow_id, workflows)
    if kind in ("campaign", "workflow", "service"):
        streams = _ids(session, DataStream.id, DataStream.service_id, services)
        counts["datastreams"] = len(streams)
    if kind in ("campaign", "workflow", "service", "datastream"):
        counts["attributes"] = _count(session, Attribute, Attribute.datastream_id, streams)
        counts["suggestions"] = _count(session, AttributeSuggestion, AttributeSuggestion.datastream_id, streams)
    return {k: v for k, v in counts.items() if v}


_MODELS: dict[str, type[SQLModel]] = {
    "campaign": Campaign,
    "workflow": Workflow,
    "service": Service,
    "datastream": DataStream,
    "attribute": Attribute,
}


@dataclass
class DeleteResult:
    """What a delete removed."""

    kind: str
    id: int
    name: str
    removed: dict[str, int] = field(default_factory=dict)


def delete_node(session: Session, kind: str, node_id: int, *, confirm: bool = False) -> DeleteResult:
    """Delete a node and (via ON DELETE CASCADE) its subtree; children need ``confirm=True``."""
    model = _MODELS.get(kind)
    if model is None:
        raise LightdomError(f"kind: {kind!r} is not one of {', '.join(_MODELS)}")
    row = get_node(session, model, node_id)
    counts = descendant_counts(session, kind, node_id)
    if counts and not confirm:
        what = ", ".join(f"{n} {k}" for k, n in counts.items())
        raise ConfirmationRequired(f"{kind} {node_id}: deleting it also deletes {what}; confirm with --yes", counts)
    if kind == "attribute":  # suggestions keep their history but lose the link
        for suggestion in session.exec(
            select(AttributeSuggestion).where(AttributeSuggestion.attribute_id == node_id)
        ).all():
            suggestion.attribute_id = None
            session.add(suggestion)
        session.flush()
    session.delete(row)
    session.flush()
    return DeleteResult(kind=kind, id=node_id, name=getattr(row, "name", ""), removed=counts)


# --------------------------------------------------------------------------- campaign


def create_campaign(
    session: Session,
    name: str,
    *,
    description: str = "",
    status: str = "draft",
    start_date: Any = None,
    end_date: Any = None,
) -> Campaign:
    """Create a campaign (unique name; status draft/active/paused/done; start ≤ end)."""
    campaign = Campaign(name=check_name(name, "campaign.name"))
    _apply_campaign(session, campaign, {"description": description, "status": status,
                                        "start_date": start_date, "end_date": end_date})
    return campaign


def update_campaign(session: Session, campaign_id: int, **changes: Any) -> Campaign:
    """Change some fields of a campaign (same validation as create)."""
    campaign = get_node(session, Campaign, campaign_id)
    if "name" in changes:
        campaign.name = check_name(changes.pop("name"), "campaign.name")
    _apply_campaign(session, campaign, changes)
    return campaign


def _apply_campaign(session: Session, campaign: Campaign, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {"description", "status", "start_date", "end_date"}
    if unknown:
        raise LightdomError(f"campaign: unknown field(s) {', '.join(sorted(unknown))}")
    if "description" in changes:
        campaign.description = str(changes["description"] or "")
    if "status" in changes:
        campaign.status = _choice(changes["status"], CAMPAIGN_STATUS_VALUES, "campaign.status")
    if "start_date" in changes:
        campaign.start_date = _date(changes["start_date"], "campaign.start_date")
    if "end_date" in changes:
        campaign.end_date = _date(changes["end_date"], "campaign.end_date")
    start, end = campaign.start_date, campaign.end_date
    if start and end and _date(start, "") > _date(end, ""):  # type: ignore[operator]
        raise LightdomError("campaign.end_date: before start_date")
    clash = session.exec(select(Campaign.id).where(Campaign.name == campaign.name)).first()
    if clash is not None and clash != campaign.id:
        raise LightdomError(f"campaign.name: {campaign.name!r} already exists (campaign {clash})")
    session.add(campaign)
    session.flush()


def list_campaigns(session: Session) -> list[Campaign]:
    """All campaigns, oldest first."""
    return list(session.exec(select(Campaign).order_by(Campaign.id)).all())


def find_campaign(session: Session, ref: str | int) -> Campaign:
    """A campaign by id or name."""
    if row_id(ref) is not None:
        return get_node(session, Campaign, row_id(ref))
    row = session.exec(select(Campaign).where(Campaign.name == ref)).first()
    if row is None:
        raise LightdomError(f"campaign {ref!r}: not found")
    return row


# --------------------------------------------------------------------------- workflow


def create_workflow(
    session: Session,
    campaign_id: int,
    name: str,
    *,
    trigger: str = "manual",
    trigger_config: dict[str, Any] | str | None = None,
    status: str = "draft",
    concurrency: int = 4,
) -> Workflow:
    """Create a workflow in a campaign with a validated trigger."""
    get_node(session, Campaign, campaign_id)
    workflow = Workflow(campaign_id=campaign_id, name=check_name(name, "workflow.name"))
    _apply_workflow(session, workflow, {"trigger": trigger, "trigger_config": trigger_config,
                                        "status": status, "concurrency": concurrency})
    return workflow


def update_workflow(session: Session, workflow_id: int, **changes: Any) -> Workflow:
    """Change some fields of a workflow; a stored webhook token hash is kept unless the trigger changes."""
    workflow = get_node(session, Workflow, workflow_id)
    if "name" in changes:
        workflow.name = check_name(changes.pop("name"), "workflow.name")
    _apply_workflow(session, workflow, changes)
    return workflow


def _apply_workflow(session: Session, workflow: Workflow, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {"trigger", "trigger_config", "status", "concurrency"}
    if unknown:
        raise LightdomError(f"workflow: unknown field(s) {', '.join(sorted(unknown))}")
    old = loads(workflow.trigger_config_json, {})
    trigger = changes.get("trigger", workflow.trigger)
    if "trigger_config" in changes or "trigger" in changes:
        config = dict(_object(changes.get("trigger_config", old if trigger == workflow.trigger else {}),
                              "trigger_config"))
        if "trigger_config" in changes:  # a token hash is issued (`workflow token`), never supplied
            config.pop("token_sha256", None)
        if trigger == "webhook" and "token_sha256" in old and "token_sha256" not in config:
            config["token_sha256"] = old["token_sha256"]
        workflow.trigger_config_json = dumps(check_trigger(trigger, config))
        workflow.trigger = trigger
    if "status" in changes:
        workflow.status = _choice(changes["status"], WORKFLOW_STATUS_VALUES, "workflow.status")
    if "concurrency" in changes:
        value = changes["concurrency"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
            raise LightdomError(f"workflow.concurrency: {value!r} must be an integer from 1 to 64")
        workflow.concurrency = value
    session.add(workflow)
    session.flush()


def list_workflows(session: Session, campaign_id: int | None = None) -> list[Workflow]:
    """Workflows, optionally of one campaign."""
    query = select(Workflow).order_by(Workflow.id)
    if campaign_id is not None:
        query = query.where(Workflow.campaign_id == campaign_id)
    return list(session.exec(query).all())


# --------------------------------------------------------------------------- service


def create_service(
    session: Session, workflow_id: int, name: str, *, type: str = "html", config: dict[str, Any] | str | None = None
) -> Service:
    """Create a service (http / html / file / llm) with a validated config."""
    get_node(session, Workflow, workflow_id)
    service = Service(workflow_id=workflow_id, name=check_name(name, "service.name"))
    _apply_service(session, service, {"type": type, "config": config})
    return service


def update_service(session: Session, service_id: int, **changes: Any) -> Service:
    """Change some fields of a service."""
    service = get_node(session, Service, service_id)
    if "name" in changes:
        service.name = check_name(changes.pop("name"), "service.name")
    _apply_service(session, service, changes)
    return service


def _apply_service(session: Session, service: Service, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {"type", "config"}
    if unknown:
        raise LightdomError(f"service: unknown field(s) {', '.join(sorted(unknown))}")
    kind = _choice(changes.get("type", service.type), SERVICE_TYPE_VALUES, "service.type")
    config = _object(changes["config"], "service.config") if "config" in changes else loads(service.config_json, {})
    service.type = kind
    service.config_json = dumps(check_service_config(kind, config))
    session.add(service)
    session.flush()


def list_services(session: Session, workflow_id: int | None = None) -> list[Service]:
    """Services, optionally of one workflow."""
    query = select(Service).order_by(Service.id)
    if workflow_id is not None:
        query = query.where(Service.workflow_id == workflow_id)
    return list(session.exec(query).all())


# --------------------------------------------------------------------------- data stream


def create_datastream(
    session: Session,
    service_id: int,
    name: str,
    *,
    source: str = "",
    destination: str = "",
    transformations: list[dict[str, Any]] | str | None = None,
) -> DataStream:
    """Create a data stream with a checked destination and transformation list."""
    get_node(session, Service, service_id)
    stream = DataStream(service_id=service_id, name=check_name(name, "datastream.name"))
    _apply_datastream(session, stream, {"source": source, "destination": destination,
                                        "transformations": transformations})
    return stream


def update_datastream(session: Session, datastream_id: int, **changes: Any) -> DataStream:
    """Change some fields of a data stream."""
    stream = get_node(session, DataStream, datastream_id)
    if "name" in changes:
        stream.name = check_name(changes.pop("name"), "datastream.name")
    _apply_datastream(session, stream, changes)
    return stream


def _apply_datastream(session: Session, stream: DataStream, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {"source", "destination", "transformations"}
    if unknown:
        raise LightdomError(f"datastream: unknown field(s) {', '.join(sorted(unknown))}")
    if "source" in changes:
        stream.source = str(changes["source"] or "")
    if "destination" in changes:
        stream.destination = check_destination(changes["destination"])
    if "transformations" in changes:
        value = changes["transformations"]
        if isinstance(value, str):
            try:
                value = loads(value, [])
            except ValueError as exc:
                raise LightdomError(f"datastream.transformations: not valid JSON: {exc}") from None
        stream.transformations_json = dumps(check_transformations(value, "datastream.transformations"))
    session.add(stream)
    session.flush()


def list_datastreams(session: Session, service_id: int | None = None) -> list[DataStream]:
    """Data streams, optionally of one service."""
    query = select(DataStream).order_by(DataStream.id)
    if service_id is not None:
        query = query.where(DataStream.service_id == service_id)
    return list(session.exec(query).all())


# --------------------------------------------------------------------------- attribute


def create_attribute(
    session: Session,
    datastream_id: int,
    name: str,
    *,
    type: str = "string",
    description: str = "",
    selector: str | None = None,
    validation: dict[str, Any] | str | None = None,
    generated_by: str = "manual",
) -> Attribute:
    """Create an attribute (snake_case name unique in its stream, type, rules, selector)."""
    get_node(session, DataStream, datastream_id)
    attribute = Attribute(datastream_id=datastream_id, name=check_attribute_name(name))
    _apply_attribute(session, attribute, {"type": type, "description": description, "selector": selector,
                                          "validation": validation, "generated_by": generated_by})
    return attribute


def update_attribute(session: Session, attribute_id: int, **changes: Any) -> Attribute:
    """Change some fields of an attribute."""
    attribute = get_node(session, Attribute, attribute_id)
    if "name" in changes:
        attribute.name = check_attribute_name(changes.pop("name"))
    _apply_attribute(session, attribute, changes)
    return attribute


def _apply_attribute(session: Session, attribute: Attribute, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {"type", "description", "selector", "validation", "generated_by"}
    if unknown:
        raise LightdomError(f"attribute: unknown field(s) {', '.join(sorted(unknown))}")
    if "type" in changes:
        attribute.type = _choice(changes["type"], ATTRIBUTE_TYPE_VALUES, "attribute.type")
    if "description" in changes:
        attribute.description = str(changes["description"] or "")
    if "selector" in changes:
        selector = changes["selector"]
        if isinstance(selector, str) and not selector.strip():
            selector = None  # an emptied form field clears the selector
        if selector is not None and not isinstance(selector, str):
            raise LightdomError("attribute.selector: must be a CSS selector or JSON path")
        if selector:
            from lightdom_tui.orchestration.extract import check_selector

            check_selector(selector, "attribute.selector")
        attribute.selector = selector.strip() if selector else None
    if "validation" in changes:
        attribute.validation_json = dumps(check_rules(_object(changes["validation"], "attribute.validation"),
                                                      "attribute.validation"))
    if "generated_by" in changes:
        attribute.generated_by = check_name(changes["generated_by"] or "manual", "attribute.generated_by")
    clash = session.exec(
        select(Attribute.id).where(Attribute.datastream_id == attribute.datastream_id, Attribute.name == attribute.name)
    ).first()
    if clash is not None and clash != attribute.id:
        raise LightdomError(f"attribute.name: {attribute.name!r} already exists in data stream {attribute.datastream_id}")
    session.add(attribute)
    session.flush()


def list_attributes(session: Session, datastream_id: int | None = None) -> list[Attribute]:
    """Attributes, optionally of one data stream."""
    query = select(Attribute).order_by(Attribute.id)
    if datastream_id is not None:
        query = query.where(Attribute.datastream_id == datastream_id)
    return list(session.exec(query).all())


# --------------------------------------------------------------------------- tree view


@dataclass
class TreeNode:
    """One node for the TUI's lazy campaign tree."""

    kind: str
    id: int
    label: str
    has_children: bool


_CHILD = {
    None: (Campaign, None, "campaign"),
    "campaign": (Workflow, Workflow.campaign_id, "workflow"),
    "workflow": (Service, Service.workflow_id, "service"),
    "service": (DataStream, DataStream.service_id, "datastream"),
    "datastream": (Attribute, Attribute.datastream_id, "attribute"),
}


def children(session: Session, kind: str | None = None, node_id: int | None = None) -> list[TreeNode]:
    """Direct children of a node (``kind=None``: the campaigns), for lazy tree loading."""
    if kind not in _CHILD:
        return []
    model, parent_column, child_kind = _CHILD[kind]
    query = select(model).order_by(model.id)  # type: ignore[attr-defined]
    if parent_column is not None:
        query = query.where(parent_column == node_id)
    rows = list(session.exec(query).all())
    grand = _CHILD.get(child_kind)
    with_children: set[int] = set()
    if grand is not None and rows:
        _, grand_column, _ = grand
        ids = [row.id for row in rows]
        with_children = set(session.exec(select(grand_column).where(grand_column.in_(ids)).distinct()).all())
    nodes = []
    for row in rows:
        label = row.name
        if child_kind == "workflow":
            label = f"{row.name} [{row.trigger}, {row.status}]"
        elif child_kind == "service":
            label = f"{row.name} [{row.type}]"
        elif child_kind == "attribute":
            label = f"{row.name}: {row.type}"
        elif child_kind == "campaign":
            label = f"{row.name} [{row.status}]"
        nodes.append(TreeNode(kind=child_kind, id=row.id, label=label, has_children=row.id in with_children))
    return nodes


def row_dict(row: SQLModel) -> dict[str, Any]:
    """A row as plain JSON-able data (``*_json`` columns parsed, datetimes ISO)."""
    data: dict[str, Any] = {}
    for key, value in row.model_dump().items():
        if key.endswith("_json"):
            data[key[: -len("_json")]] = loads(value, None)
        elif isinstance(value, datetime):
            data[key] = value.isoformat()
        else:
            data[key] = value
    if "trigger_config" in data and isinstance(data["trigger_config"], dict):
        data["trigger_config"].pop("token_sha256", None)
        data["webhook_token_set"] = "token_sha256" in loads(getattr(row, "trigger_config_json", "{}"), {})
    return data
