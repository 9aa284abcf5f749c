"""The model catalogue: list, show with lineage, add a local base model, delete safely."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import (
    ABTest,
    AliasEvent,
    Dataset,
    Deployment,
    Evaluation,
    ModelVersion,
    RequestLog,
    TrainingRun,
)
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry.aliases import aliases_by_version, alias_history
from lightdom_tui.registry.gguf_meta import quant_name, read_gguf_metadata
from lightdom_tui.db.access import write_session
from lightdom_tui.registry.versions import get_version, register_version, unique_version_name
from lightdom_tui.workspace import Workspace

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt")


@dataclass
class ModelSummary:
    """One row of ``models list``."""

    id: int
    version: str
    kind: str
    format: str
    path: str
    sha256: str | None
    size_bytes: int | None
    architecture: str | None
    quant: str | None
    aliases: list[str]
    deployed_to: list[str]
    created_at: str


@dataclass
class LineageNode:
    """One step of a version's ancestry: the version, the run that made it, its dataset."""

    version: str
    kind: str
    format: str
    quant: str | None
    sha256: str | None
    run: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None


@dataclass
class ModelDetail:
    """Everything ``models show`` prints."""

    model: ModelSummary
    lineage: list[LineageNode]
    children: list[str]
    metrics: dict[str, Any]
    verification: dict[str, Any]
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    alias_history: list[dict[str, Any]] = field(default_factory=list)
    notes: str | None = None


def _deployed_by_version(session: Session) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for d in session.exec(select(Deployment).where(Deployment.status == "active")).all():
        result.setdefault(d.version_id, []).append(d.task_type)
    return result


def _summary(row: ModelVersion, aliases: dict[int, list[str]], deployed: dict[int, list[str]]) -> ModelSummary:
    return ModelSummary(
        id=row.id,
        version=row.version,
        kind=row.kind,
        format=row.format,
        path=row.path,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        architecture=row.architecture,
        quant=row.quant,
        aliases=aliases.get(row.id, []),
        deployed_to=sorted(deployed.get(row.id, [])),
        created_at=row.created_at.isoformat(),
    )


def list_models(session: Session) -> list[ModelSummary]:
    """Every registered version, oldest first, with its aliases and active deployments."""
    aliases, deployed = aliases_by_version(session), _deployed_by_version(session)
    rows = session.exec(select(ModelVersion).order_by(col(ModelVersion.id))).all()
    return [_summary(r, aliases, deployed) for r in rows]


def _dataset_info(session: Session, dataset_id: int | None) -> dict[str, Any] | None:
    if dataset_id is None:
        return None
    ds = session.get(Dataset, dataset_id)
    if ds is None:
        return {"id": dataset_id, "missing": True}
    return {
        "id": ds.id,
        "name": f"{ds.name}@{ds.version}",
        "manifest_hash": ds.manifest_hash,
        "n_train": ds.n_train,
        "n_validation": ds.n_validation,
    }


def _run_info(session: Session, run_id: int | None) -> tuple[dict[str, Any] | None, int | None]:
    if run_id is None:
        return None, None
    run = session.get(TrainingRun, run_id)
    if run is None:
        return {"id": run_id, "missing": True}, None
    info = {"id": run.id, "status": run.status, "method": run.method, "preset": run.preset, "seed": run.seed}
    return info, run.dataset_id


def lineage(session: Session, version: ModelVersion) -> list[LineageNode]:
    """The parent chain from ``version`` back to its base, each with run and dataset."""
    nodes: list[LineageNode] = []
    seen: set[int] = set()
    current: ModelVersion | None = version
    while current is not None and current.id not in seen:
        seen.add(current.id)
        run, run_dataset = _run_info(session, current.run_id)
        nodes.append(
            LineageNode(
                version=current.version,
                kind=current.kind,
                format=current.format,
                quant=current.quant,
                sha256=current.sha256,
                run=run,
                dataset=_dataset_info(session, current.dataset_id or run_dataset),
            )
        )
        current = session.get(ModelVersion, current.parent_id) if current.parent_id else None
    return nodes


def show_model(session: Session, ref: str | int) -> ModelDetail:
    """A version with its lineage, children, metrics, evaluations and alias history."""
    row = get_version(session, ref)
    summary = _summary(row, aliases_by_version(session), _deployed_by_version(session))
    children = session.exec(select(ModelVersion.version).where(ModelVersion.parent_id == row.id)).all()
    evaluations = session.exec(
        select(Evaluation).where(Evaluation.version_id == row.id).order_by(col(Evaluation.id).desc()).limit(5)
    ).all()
    history = [
        e for e in alias_history(session)
        if row.version in (e.version, e.previous_version)
    ]
    return ModelDetail(
        model=summary,
        lineage=lineage(session, row),
        children=list(children),
        metrics=loads(row.metrics_json, {}),
        verification=loads(row.verification_json, {}),
        evaluations=[
            {"id": e.id, "created_at": e.created_at.isoformat(), "task_type": e.task_type, "n": e.n,
             "metrics": loads(e.metrics_json, {})}
            for e in evaluations
        ],
        alias_history=[
            {"alias": e.alias, "action": e.action, "version": e.version, "previous": e.previous_version,
             "at": e.created_at.isoformat()}
            for e in history[:20]
        ],
        notes=row.notes,
    )


# --------------------------------------------------------------------------- add a local base model


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "model"


def inspect_base(path: Path) -> dict[str, Any]:
    """Format, architecture and quant of a local HF folder or GGUF file; errors name what is missing."""
    path = Path(path).expanduser()
    if not path.exists():
        raise LightdomError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LightdomError(f"{path}: expected a .gguf file or a Hugging Face model folder")
        meta = read_gguf_metadata(path)
        return {
            "format": "gguf",
            "architecture": meta.get("general.architecture"),
            "quant": quant_name(meta.get("general.file_type")),
            "name": meta.get("general.name"),
        }
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LightdomError(f"{path}: no config.json; not a Hugging Face model folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LightdomError(f"{config_file}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not any(next(path.glob(p), None) for p in WEIGHT_PATTERNS):
        raise LightdomError(f"{path}: no weights (*.safetensors or *.bin) in the folder")
    ggufs = sorted(path.glob("*.gguf"))
    return {
        "format": "hf",
        "architecture": config.get("model_type") or (config.get("architectures") or [None])[0],
        "quant": (config.get("quantization_config") or {}).get("quant_method"),
        "name": None,
        "gguf_files": [g.name for g in ggufs],
    }


def add_base(workspace: Workspace, path: Path | str, *, name: str | None = None) -> ModelSummary:
    """Register a local HF folder or GGUF file as a base version (in place; nothing copied)."""
    path = Path(path).expanduser().resolve()
    info = inspect_base(path)
    with write_session(workspace) as session:
        stem = _slug(name or (path.stem if path.is_file() else path.name))
        version = name.strip() if name else unique_version_name(session, stem)
        row = register_version(
            session,
            version=version,
            kind="base",
            format=info["format"],
            path=path,
            architecture=info["architecture"],
            quant=info["quant"],
            notes=f"added from {path}",
        )
        return _summary(row, {}, {})


# --------------------------------------------------------------------------- delete


@dataclass
class DeleteResult:
    """What ``models delete`` removed."""

    version: str
    files_removed: bool
    evaluations_removed: int


def usage_blockers(session: Session, row: ModelVersion) -> list[str]:
    """Reasons a version may not be deleted now (alias, active deployment, A/B test, children)."""
    reasons = [f"alias '{a}' points at it" for a in aliases_by_version(session).get(row.id, [])]
    reasons += [
        f"active deployment #{d.id} ({d.task_type}) serves it"
        for d in session.exec(
            select(Deployment).where(Deployment.version_id == row.id, Deployment.status == "active")
        ).all()
    ]
    reasons += [
        f"A/B test '{t.name}' ({t.status}) uses it"
        for t in session.exec(
            select(ABTest).where((ABTest.version_a_id == row.id) | (ABTest.version_b_id == row.id))
        ).all()
    ]
    reasons += [
        f"version '{c}' derives from it"
        for c in session.exec(select(ModelVersion.version).where(ModelVersion.parent_id == row.id)).all()
    ]
    return reasons


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def delete_model(workspace: Workspace, ref: str | int, *, remove_files: bool = True) -> DeleteResult:
    """Delete a version no alias, deployment, A/B test or child uses.

    Past deployments and alias events naming it are removed with it (its history no
    longer leads anywhere); request logs and runs keep their rows with the link cleared.
    Files are removed only when they live under the workspace's ``models/`` folder.
    """
    with write_session(workspace) as session:
        row = get_version(session, ref)
        blockers = usage_blockers(session, row)
        if blockers:
            raise LightdomError(f"model '{row.version}': in use, not deleted: {'; '.join(blockers)}")
        version_id, path, name = row.id, Path(row.path), row.version
        evaluations = session.exec(select(Evaluation).where(Evaluation.version_id == version_id)).all()
        for e in evaluations:
            session.delete(e)
        for event in session.exec(select(AliasEvent).where(AliasEvent.version_id == version_id)).all():
            session.delete(event)
        for event in session.exec(select(AliasEvent).where(AliasEvent.previous_version_id == version_id)).all():
            event.previous_version_id = None
            session.add(event)
        old_deployments = session.exec(select(Deployment).where(Deployment.version_id == version_id)).all()
        old_ids = {d.id for d in old_deployments}
        if old_ids:
            for d in session.exec(select(Deployment).where(col(Deployment.previous_deployment_id).in_(old_ids))).all():
                d.previous_deployment_id = None
                session.add(d)
            for log in session.exec(select(RequestLog).where(col(RequestLog.deployment_id).in_(old_ids))).all():
                log.deployment_id = None
                session.add(log)
        for log in session.exec(select(RequestLog).where(RequestLog.version_id == version_id)).all():
            log.version_id = None
            session.add(log)
        for run in session.exec(
            select(TrainingRun).where(
                (TrainingRun.base_version_id == version_id) | (TrainingRun.adapter_version_id == version_id)
            )
        ).all():
            run.base_version_id = None if run.base_version_id == version_id else run.base_version_id
            run.adapter_version_id = None if run.adapter_version_id == version_id else run.adapter_version_id
            session.add(run)
        session.flush()
        for d in old_deployments:
            session.delete(d)
        session.flush()
        session.delete(row)
    removed = False
    if remove_files and _inside(path, workspace.models_dir) and path.exists():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed = True
    return DeleteResult(version=name, files_removed=removed, evaluations_removed=len(evaluations))
