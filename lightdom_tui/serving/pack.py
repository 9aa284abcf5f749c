"""Carry a model to an edge box as one file: ``lightdom pack`` / ``lightdom unpack``.

A pack is an uncompressed tar (a GGUF does not compress) with exactly two members:
``manifest.json`` (the version's name, sha256, size, quant, its prompts per task type,
the attribute schema, the task routes it serves, and its lineage: the chain of parent
versions with their runs and datasets) and ``model.gguf``. Unpacking checks the sha256,
writes the GGUF under ``models/gguf/`` (temp name, then rename), registers the version
with its prompts, and deploys it for its task routes; unpacking the same pack again
changes nothing. Neither side needs the training stack.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Deployment, ModelVersion
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_SCHEMA
from lightdom_tui.registry.versions import get_version, register_version
from lightdom_tui.workspace import Workspace

PACK_FORMAT = "lightdom-pack"
PACK_VERSION = 1
MANIFEST = "manifest.json"
MODEL = "model.gguf"
MANIFEST_MAX_BYTES = 4 << 20
CHUNK = 4 << 20


@dataclass
class PackResult:
    """What ``pack`` wrote."""

    path: str
    version: str
    sha256: str
    size: int
    task_routes: list[str] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UnpackResult:
    """What ``unpack`` registered."""

    version: str
    path: str
    sha256: str
    registered: bool  # False: this exact version was already here
    deployed: list[str] = field(default_factory=list)
    packed_on: str | None = None


def _lineage(session: Any, version: ModelVersion) -> list[dict[str, Any]]:
    chain, seen, current = [], set(), version
    while current is not None and current.id not in seen:
        seen.add(current.id)
        chain.append({"version": current.version, "kind": current.kind, "format": current.format,
                      "sha256": current.sha256, "quant": current.quant, "run_id": current.run_id,
                      "dataset_id": current.dataset_id, "created_at": current.created_at.isoformat()})
        current = session.get(ModelVersion, current.parent_id) if current.parent_id else None
    return chain


def pack(ws: Workspace, ref: str, out: Path) -> PackResult:
    """Write version ``ref`` (a GGUF) and everything needed to serve it into ``out``."""
    with ws.session() as session:
        version = get_version(session, ref)
        if version.format != "gguf":
            raise LightdomError(f"model '{version.version}' is {version.format}, not GGUF: run `lightdom export "
                                f"{version.version}` and pack the GGUF version")
        gguf = Path(version.path)
        if not gguf.is_file():
            raise LightdomError(f"model '{version.version}': file {gguf} is missing")
        deployments = session.exec(select(Deployment).where(Deployment.version_id == version.id,
                                                            Deployment.status == "active")
                                   .order_by(col(Deployment.task_type))).all()
        manifest = {
            "format": PACK_FORMAT, "pack_version": PACK_VERSION,
            "packed_at": datetime.now(UTC).isoformat(timespec="seconds"), "packed_on": socket.gethostname(),
            "version": version.version, "kind": version.kind, "architecture": version.architecture,
            "quant": version.quant, "sha256": version.sha256, "size": gguf.stat().st_size,
            "prompts": loads(version.prompts_json, {}) or {}, "schema": ATTRIBUTE_SCHEMA,
            "task_routes": [d.task_type for d in deployments], "lineage": _lineage(session, version),
            "metrics": loads(version.metrics_json, {}) or {},
        }
    digest = _sha256(gguf)
    if manifest["sha256"] and manifest["sha256"] != digest:
        raise LightdomError(f"model '{manifest['version']}': {gguf} no longer matches its registered sha256")
    manifest["sha256"] = digest
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    data = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(gguf, arcname=MODEL, recursive=False)
    os.replace(tmp, out)
    return PackResult(str(out), manifest["version"], digest, out.stat().st_size, manifest["task_routes"],
                      manifest["lineage"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(tar: tarfile.TarFile, source: Path) -> dict[str, Any]:
    """The pack's manifest, checked for shape; errors name the file and field."""
    names = tar.getnames()
    if sorted(names) != sorted([MANIFEST, MODEL]):
        raise LightdomError(f"{source}: not a LightDom pack (members {names[:4]}, expected {MANIFEST} and {MODEL})")
    member = tar.getmember(MANIFEST)
    if not member.isfile() or member.size > MANIFEST_MAX_BYTES:
        raise LightdomError(f"{source}: {MANIFEST} is not a small regular file")
    try:
        manifest = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LightdomError(f"{source}: {MANIFEST} is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise LightdomError(f"{source}: {MANIFEST}: format is not {PACK_FORMAT!r}")
    if manifest.get("pack_version") != PACK_VERSION:
        raise LightdomError(f"{source}: pack_version {manifest.get('pack_version')!r}; this LightDom reads {PACK_VERSION}")
    for key in ("version", "sha256"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise LightdomError(f"{source}: {MANIFEST}: '{key}' missing")
    if not tar.getmember(MODEL).isfile():
        raise LightdomError(f"{source}: {MODEL} is not a regular file")
    return manifest


def unpack(ws: Workspace, source: Path, *, deploy: bool = True) -> UnpackResult:
    """Register the version in pack ``source`` and (with ``deploy``) serve it for its task routes."""
    source = Path(source)
    if not source.is_file():
        raise LightdomError(f"{source}: no such file")
    try:
        tar = tarfile.open(source, "r:")
    except tarfile.TarError as exc:
        raise LightdomError(f"{source}: not a LightDom pack ({exc})") from None
    with tar:
        manifest = read_manifest(tar, source)
        name = manifest["version"]
        with ws.session() as session:
            existing = session.exec(select(ModelVersion).where(ModelVersion.version == name)).first()
            if existing is not None:
                if existing.sha256 != manifest["sha256"]:
                    raise LightdomError(f"{source}: a different model '{name}' is already registered here")
                return UnpackResult(name, existing.path, existing.sha256, False, packed_on=manifest.get("packed_on"))
        target_dir = ws.models_dir / "gguf"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{name}.gguf"
        tmp = target.with_name(target.name + ".tmp")
        digest = hashlib.sha256()
        with tar.extractfile(MODEL) as stream, tmp.open("wb") as out:  # type: ignore[union-attr]
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != manifest["sha256"]:
        tmp.unlink(missing_ok=True)
        raise LightdomError(f"{source}: {MODEL} does not match the sha256 in its manifest (damaged in transit)")
    os.replace(tmp, target)
    notes = json.dumps({"packed_on": manifest.get("packed_on"), "packed_at": manifest.get("packed_at"),
                        "lineage": manifest.get("lineage") or []}, ensure_ascii=False)
    with ws.session() as session:
        register_version(session, version=name, kind="gguf", format="gguf", path=target, sha256=digest.hexdigest(),
                         architecture=manifest.get("architecture"), quant=manifest.get("quant"),
                         prompts=manifest.get("prompts") or {}, metrics=manifest.get("metrics") or {}, notes=notes)
    deployed: list[str] = []
    routes = [t for t in manifest.get("task_routes") or [] if isinstance(t, str)]
    if deploy and routes:
        from lightdom_tui.registry.deploy import deploy as deploy_version
        from lightdom_tui.registry.deploy import load_health_check

        task_types = None if "*" in routes else routes  # "*": every task type without its own deployment
        result = deploy_version(ws, name, task_types, health_check=load_health_check)
        if not result.ok:
            raise LightdomError(f"{source}: registered '{name}' but its deployment failed: {result.health.get('error')}")
        deployed = routes
    return UnpackResult(name, str(target), digest.hexdigest(), True, deployed, manifest.get("packed_on"))
