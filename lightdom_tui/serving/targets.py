"""Which engine answers a gateway request, from its ``model`` field.

- ``task:TYPE`` → the registry decides (``registry.routing.choose_route``): a running
  A/B test (arm sticky per request key: the ``user`` field or the
  ``X-Lightdom-User`` header), else the deployment in force, else ``production``,
  else the embedded base;
- a name in ``serving.remote_routes`` (``NAME=URL[#MODEL]``) → that OpenAI-compatible
  endpoint (a vLLM or llama-server cluster);
- anything else → a version name, id or alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import ABTest, Alias, Deployment, ModelVersion
from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
from lightdom_tui.registry.routing import choose_route
from lightdom_tui.registry.versions import find_version
from lightdom_tui.workspace import Workspace

TASK_PREFIX = "task:"
GENERAL_TASK = "chat"


class UnknownModel(LightdomError):
    """The ``model`` of a request names nothing this gateway serves."""


@dataclass
class Target:
    """Where one request goes (plain values: no ORM object leaves the session)."""

    model: str  # the name answered in the response
    task_type: str
    engine: str  # local / remote
    version: str | None = None
    version_id: int | None = None
    path: Path | None = None
    deployment_id: int | None = None
    ab_test_id: int | None = None
    arm: str | None = None
    request_key: str | None = None
    remote_url: str | None = None
    remote_model: str | None = None
    note: str | None = None  # why a local version cannot serve (not GGUF, file missing)


@dataclass
class RemoteRoute:
    """A model name served by a remote OpenAI-compatible endpoint."""

    name: str
    url: str
    model: str


def remote_routes(routes: list[str]) -> dict[str, RemoteRoute]:
    """Parse ``serving.remote_routes`` entries ``NAME=URL[#MODEL]``."""
    parsed = {}
    for i, entry in enumerate(routes):
        name, _, rest = entry.partition("=")
        url, _, model = rest.partition("#")
        if not name.strip() or not url.startswith(("http://", "https://")):
            raise LightdomError(f"serving.remote_routes[{i}]: {entry!r} is not NAME=URL[#MODEL]")
        parsed[name.strip()] = RemoteRoute(name.strip(), url.strip(), model.strip() or name.strip())
    return parsed


def resolve(ws: Workspace, model: str, request_key: str | None) -> Target:
    """The target of a request for ``model`` (see the module docstring)."""
    routes = remote_routes(ws.settings.serving.remote_routes)
    if model in routes:
        route = routes[model]
        return Target(model=model, task_type=GENERAL_TASK, engine="remote", remote_url=route.url,
                      remote_model=route.model, request_key=request_key)
    task = model[len(TASK_PREFIX):] if model.startswith(TASK_PREFIX) else None
    with ws.session() as session:
        if task is not None:
            route = choose_route(session, task, request_key, None)
        else:
            version = find_version(session, model)
            if version is None:
                raise UnknownModel(f"model {model!r}: no such version, alias or route (GET /v1/models lists them)")
            route = choose_route(session, GENERAL_TASK, request_key, version.id)
        version = route.version or find_version(session, EMBEDDED_VERSION)
        target = Target(model=model, task_type=task or GENERAL_TASK, engine="local",
                        deployment_id=route.deployment_id, ab_test_id=route.ab_test_id, arm=route.arm,
                        request_key=route.request_key)
        if version is None:
            target.note = "no version is deployed and the embedded base is not registered"
            return target
        target.version, target.version_id = version.version, version.id
        if version.format != "gguf":
            target.note = f"model '{version.version}' is {version.format}, not GGUF: run `lightdom export {version.version}`"
        elif not Path(version.path).is_file():
            target.note = f"model '{version.version}': file {version.path} is missing"
        else:
            target.path = Path(version.path)
        return target


def list_models(ws: Workspace) -> list[dict[str, Any]]:
    """``/v1/models`` entries: GGUF versions, aliases, task routes and remote routes."""
    entries: list[dict[str, Any]] = []
    with ws.session() as session:
        versions = {v.id: v for v in session.exec(select(ModelVersion)).all()}
        for v in versions.values():
            if v.format == "gguf":
                entries.append({"id": v.version, "object": "model", "owned_by": "lightdom", "kind": "version"})
        for alias in session.exec(select(Alias)).all():
            target = versions.get(alias.version_id)
            entries.append({"id": alias.name, "object": "model", "owned_by": "lightdom", "kind": "alias",
                            "version": target.version if target else None})
        tasks = {d.task_type for d in session.exec(select(Deployment).where(Deployment.status == "active")).all()}
        for test in session.exec(select(ABTest).where(ABTest.status == "running")).all():
            tasks.update(loads(test.task_types_json, []) or [])
    for task in sorted((tasks | {"attribute_generation"}) - {"*"}):  # "*" is a deployment's scope, not a task
        entries.append({"id": f"{TASK_PREFIX}{task}", "object": "model", "owned_by": "lightdom", "kind": "task"})
    for route in remote_routes(ws.settings.serving.remote_routes).values():
        entries.append({"id": route.name, "object": "model", "owned_by": "remote", "kind": "remote", "url": route.url})
    return entries
