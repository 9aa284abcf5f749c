"""The facts a status line shows, gathered without heavy imports (no torch: it costs 300 MB)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lightdom_tui.workspace import Workspace

TASK_TYPE = "attribute_generation"


@dataclass
class StatusInfo:
    """Workspace, the model that would answer now, the engine and whether a GPU is visible."""

    workspace: str
    deployed: str
    engine: str
    gpu: str


def detect_gpu() -> str:
    """"yes (nvidia)" when an NVIDIA driver is visible, else "no"; cheap checks only."""
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return "yes (nvidia)"
    if os.environ.get("ROCR_VISIBLE_DEVICES") or Path("/dev/kfd").exists():
        return "yes (rocm)"
    return "no"


def read_status(ws: Workspace) -> StatusInfo:
    """Deployed model and engine from the registry's routing decision; GPU from the driver."""
    from lightdom_tui.registry.routing import choose_route

    with ws.session() as session:
        route = choose_route(session, TASK_TYPE)
        deployed = route.version.version if route.version is not None else "none"
        local = route.version is not None
    serving = ws.settings.serving
    if local:
        engine = "local" + (f" (fallback {serving.remote_provider})" if serving.fallback else "")
    elif serving.fallback:
        engine = f"remote ({serving.remote_provider})"
    else:
        engine = "none"
    return StatusInfo(workspace=str(ws.root), deployed=deployed, engine=engine, gpu=detect_gpu())


def store_api_key(provider: str, key: str, timeout_s: float) -> None:
    """Store a remote API key in the keyring (gives up after ``timeout_s``: a locked keyring can block)."""
    from lightdom_tui.serving.secrets import set_api_key

    set_api_key(provider, key, timeout_s=timeout_s)
