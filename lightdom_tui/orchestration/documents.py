"""Export/import a campaign (or one workflow) as a JSON or YAML document.

The document holds everything that defines the branch and nothing that is
per-database (ids, creation times, runs) or secret (a webhook token hash is never
exported; re-issue it with ``workflow token``). Import goes through the same CRUD
validation as the CLI, in one transaction, with errors naming the document path,
e.g. ``campaign.workflows[0].services[1].type: …``. ``export → import → export``
gives the identical document.

An imported document is someone else's: it never brings a webhook token (a
``token_sha256`` in it is dropped; the user issues one with ``workflow token``), and
its file paths, watched paths, ``jsonl:`` destinations and literal-address URLs must
pass the workspace's access policy (see ``policy.py``) — checked again on every run.
Files are read within ``MAX_DOCUMENT_BYTES``, YAML without aliases (``safe_yaml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import Session

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Campaign, Workflow
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.policy import AccessPolicy, BlockedAddress, load_policy

DOC_VERSION = 1
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    from datetime import timezone

    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return aware.isoformat()


def _workflow_doc(session: Session, workflow: Workflow) -> dict[str, Any]:
    config = loads(workflow.trigger_config_json, {})
    config.pop("token_sha256", None)
    services = []
    for service in tree.list_services(session, workflow.id):
        streams = []
        for stream in tree.list_datastreams(session, service.id):
            attributes = [{"name": a.name, "type": a.type, "description": a.description, "selector": a.selector,
                           "validation": loads(a.validation_json, {}), "generated_by": a.generated_by}
                          for a in tree.list_attributes(session, stream.id)]
            streams.append({"name": stream.name, "source": stream.source, "destination": stream.destination,
                            "transformations": loads(stream.transformations_json, []), "attributes": attributes})
        services.append({"name": service.name, "type": service.type, "config": loads(service.config_json, {}),
                         "datastreams": streams})
    return {"name": workflow.name, "trigger": workflow.trigger, "trigger_config": config, "status": workflow.status,
            "concurrency": workflow.concurrency, "services": services}


def export_campaign(session: Session, campaign_ref: int | str) -> dict[str, Any]:
    """The campaign's whole branch as a plain document."""
    campaign = tree.find_campaign(session, campaign_ref)
    return {
        "lightdom": "campaign",
        "version": DOC_VERSION,
        "campaign": {
            "name": campaign.name, "description": campaign.description, "status": campaign.status,
            "start_date": _iso(campaign.start_date), "end_date": _iso(campaign.end_date),
            "workflows": [_workflow_doc(session, w) for w in tree.list_workflows(session, campaign.id)],
        },
    }


def export_workflow(session: Session, workflow_id: int) -> dict[str, Any]:
    """One workflow's branch as a plain document."""
    workflow = tree.get_node(session, Workflow, workflow_id)
    return {"lightdom": "workflow", "version": DOC_VERSION, "workflow": _workflow_doc(session, workflow)}


class _Path:
    """Prefixes LightdomErrors raised inside with the document path."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> bool:
        if isinstance(exc, LightdomError) and not getattr(exc, "_located", False):
            message = str(exc)
            # "workflow.name: …" → "campaign.workflows[0].name: …"
            field, sep, rest = message.partition(": ")
            suffix = field.split(".", 1)[1] if "." in field and sep else None
            located = LightdomError(f"{self.where}.{suffix}: {rest}" if suffix else f"{self.where}: {message}")
            located._located = True  # type: ignore[attr-defined]
            raise located from exc
        return False


def _need(data: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(data, dict):
        raise LightdomError(f"{where}: expected an object")
    value = data.get(key, kind())
    if not isinstance(value, kind):
        raise LightdomError(f"{where}.{key}: expected {'a list' if kind is list else 'an object'}")
    return value


def _check_access(policy: AccessPolicy, data: dict[str, Any], where: str) -> None:
    """Refuse paths and addresses of an imported workflow that the policy would not let a run use."""
    config = data.get("trigger_config")
    if data.get("trigger") == "file" and isinstance(config, dict) and isinstance(config.get("path"), str):
        policy.check_path(config["path"], f"{where}.trigger_config.path")
    for i, s in enumerate(data.get("services") or []):
        if not isinstance(s, dict):
            continue
        sw = f"{where}.services[{i}]"
        service_config = s.get("config") if isinstance(s.get("config"), dict) else {}
        if s.get("type") == "file":
            for k, pattern in enumerate(service_config.get("paths") or []):
                if isinstance(pattern, str):
                    policy.check_pattern(pattern, f"{sw}.config.paths[{k}]")
        urls = service_config.get("urls") or ([service_config["url"]] if service_config.get("url") else [])
        for k, url in enumerate(urls if isinstance(urls, list) else []):
            if isinstance(url, str):
                try:
                    policy.check_url(url, resolve=False)  # literal addresses now; names on every run
                except BlockedAddress as exc:
                    raise LightdomError(f"{sw}.config.urls[{k}]: {exc}") from None
        for j, d in enumerate(s.get("datastreams") or []):
            destination = d.get("destination") if isinstance(d, dict) else None
            if isinstance(destination, str) and destination.startswith("jsonl:"):
                policy.check_path(destination[len("jsonl:"):], f"{sw}.datastreams[{j}].destination")


def _import_workflow(session: Session, campaign_id: int, data: dict[str, Any], where: str,
                     policy: AccessPolicy) -> Workflow:
    if not isinstance(data, dict):
        raise LightdomError(f"{where}: expected an object")
    _check_access(policy, data, where)
    trigger_config = data.get("trigger_config") or {}
    if isinstance(trigger_config, dict):  # a token the document's author chose is never trusted
        trigger_config = {k: v for k, v in trigger_config.items() if k != "token_sha256"}
    with _Path(where):
        workflow = tree.create_workflow(session, campaign_id, data.get("name"), trigger=data.get("trigger", "manual"),
                                        trigger_config=trigger_config,
                                        status=data.get("status", "draft"), concurrency=data.get("concurrency", 4))
    for i, s in enumerate(_need(data, "services", list, where)):
        sw = f"{where}.services[{i}]"
        with _Path(sw):
            service = tree.create_service(session, workflow.id, _need(s, "name", str, sw) or None,  # type: ignore[arg-type]
                                          type=s.get("type", "html"), config=s.get("config") or {})
        for j, d in enumerate(_need(s, "datastreams", list, sw)):
            dw = f"{sw}.datastreams[{j}]"
            with _Path(dw):
                stream = tree.create_datastream(session, service.id, _need(d, "name", str, dw) or None,  # type: ignore[arg-type]
                                                source=d.get("source", ""), destination=d.get("destination", ""),
                                                transformations=d.get("transformations") or [])
            for k, a in enumerate(_need(d, "attributes", list, dw)):
                aw = f"{dw}.attributes[{k}]"
                with _Path(aw):
                    tree.create_attribute(session, stream.id, _need(a, "name", str, aw) or None,  # type: ignore[arg-type]
                                          type=a.get("type", "string"), description=a.get("description", ""),
                                          selector=a.get("selector"), validation=a.get("validation") or {},
                                          generated_by=a.get("generated_by") or "manual")
    return workflow


def _check_header(doc: Any, kind: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("lightdom") != kind:
        raise LightdomError(f"document: expected \"lightdom\": \"{kind}\" at the top")
    if doc.get("version") != DOC_VERSION:
        raise LightdomError(f"document.version: {doc.get('version')!r} is not supported (expected {DOC_VERSION})")
    body = doc.get(kind)
    if not isinstance(body, dict):
        raise LightdomError(f"document.{kind}: expected an object")
    return body


def _policy_of(session: Session) -> AccessPolicy:
    """The access policy of the workspace whose database ``session`` is bound to (``ROOT/storage/…db``)."""
    database = session.get_bind().url.database
    if not database:
        raise LightdomError("import: the session is not bound to a workspace database")
    return load_policy(Path(database).resolve().parent.parent)


def import_campaign(session: Session, doc: dict[str, Any], *, name: str | None = None,
                    policy: AccessPolicy | None = None) -> Campaign:
    """Create a campaign branch from a document (in the caller's transaction); ``name`` renames it.

    Paths and addresses are checked against ``policy`` (default: the session's workspace's).
    """
    policy = policy or _policy_of(session)
    body = _check_header(doc, "campaign")
    with _Path("campaign"):
        campaign = tree.create_campaign(session, name or body.get("name"), description=body.get("description", ""),
                                        status=body.get("status", "draft"), start_date=body.get("start_date"),
                                        end_date=body.get("end_date"))
    for i, w in enumerate(_need(body, "workflows", list, "campaign")):
        _import_workflow(session, campaign.id, w, f"campaign.workflows[{i}]", policy)  # type: ignore[arg-type]
    return campaign


def import_workflow(session: Session, doc: dict[str, Any], campaign_id: int, *, name: str | None = None,
                    policy: AccessPolicy | None = None) -> Workflow:
    """Create a workflow branch from a document inside an existing campaign (checked like import_campaign)."""
    policy = policy or _policy_of(session)
    body = dict(_check_header(doc, "workflow"))
    if name:
        body["name"] = name
    tree.get_node(session, Campaign, campaign_id)
    return _import_workflow(session, campaign_id, body, "workflow", policy)


def write_document(doc: dict[str, Any], path: Path) -> Path:
    """Write JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)
    elif path.suffix.lower() == ".json":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    else:
        raise LightdomError(f"{path}: use a .json, .yaml or .yml file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def read_document(path: Path) -> dict[str, Any]:
    """Read a JSON or YAML document (at most MAX_DOCUMENT_BYTES, UTF-8, YAML without aliases).

    Every problem is one LightdomError naming the file (and the line for syntax errors).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise LightdomError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise LightdomError(f"{path}: larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB; refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LightdomError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        from lightdom_tui.safe_yaml import load_yaml

        doc = load_yaml(text, str(path))
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LightdomError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:  # too deep; an integer over Python's digit limit
            raise LightdomError(f"{path}: not a usable JSON document: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise LightdomError(f"{path}: expected a document object at the top")
    return doc
