"""Registry fixtures: extra model versions on the real workspace database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lightdom_tui.registry.versions import register_version


@pytest.fixture()
def versions(workspace, embedded_gguf: Path) -> list[str]:
    """Three GGUF versions (copies of nothing: they share the embedded file's path) v1 → v2 → v3."""
    names = ["v1", "v2", "v3"]
    with workspace.session() as s:
        parent = None
        for name in names:
            row = register_version(
                s, version=name, kind="gguf", format="gguf", path=embedded_gguf,
                sha256="0" * 64, parent_id=parent,
            )
            parent = row.id
    return names


@pytest.fixture()
def corrupt_gguf(workspace) -> Path:
    """A file that starts like a GGUF but is garbage after the header: llama.cpp cannot load it."""
    path = workspace.models_dir / "gguf" / "corrupt.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 4096)
    return path


@pytest.fixture()
def workspace_copy_gguf(workspace, embedded_gguf: Path) -> Path:
    """The embedded GGUF copied under the workspace's models/ folder (so delete may remove it)."""
    target = workspace.models_dir / "gguf" / "copy.gguf"
    shutil.copyfile(embedded_gguf, target)
    return target


@pytest.fixture()
def datastream(workspace) -> int:
    """A campaign → workflow → service → data stream chain; returns the data stream id."""
    from lightdom_tui.db.models import Campaign, DataStream, Service, Workflow

    with workspace.session() as s:
        campaign = Campaign(name="c")
        s.add(campaign)
        s.flush()
        workflow = Workflow(campaign_id=campaign.id, name="w")
        s.add(workflow)
        s.flush()
        service = Service(workflow_id=workflow.id, name="s")
        s.add(service)
        s.flush()
        stream = DataStream(service_id=service.id, name="d")
        s.add(stream)
        s.flush()
        return stream.id


@pytest.fixture(autouse=True)
def _close_engine_pools():
    """Unload llama.cpp models a test loaded through the serving pool (each workspace has its own)."""
    yield
    import sys

    local = sys.modules.get("lightdom_tui.serving.local")
    if local is not None:
        local.close_pools()
