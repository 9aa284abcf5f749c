"""The facts the status bar shows, gathered without heavy imports (no torch: it costs 300 MB)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lightdom_tui.tui.messages import StatusInfo
from lightdom_tui.tui.services import ServiceMissing, service
from lightdom_tui.workspace import Workspace

TASK_TYPE = "attribute_generation"


def detect_gpu() -> str:
    """"yes (nvidia)" when an NVIDIA driver is visible, else "no"; cheap checks only."""
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return "yes (nvidia)"
    if os.environ.get("ROCR_VISIBLE_DEVICES") or Path("/dev/kfd").exists():
        return "yes (rocm)"
    return "no"


def read_status(workspace: Workspace) -> StatusInfo:
    """Deployed model and engine from the registry's routing decision; GPU from the driver."""
    try:
        routing = service("registry.routing")
        with workspace.session() as session:
            route = routing.choose_route(session, TASK_TYPE)
            deployed = route.version.version if route.version is not None else "none"
            local = route.version is not None
    except ServiceMissing as exc:
        deployed, local = exc.args[0], False
    serving = workspace.settings.serving
    if local:
        engine = "local" + (f" (fallback {serving.remote_provider})" if serving.fallback else "")
    elif serving.fallback:
        engine = f"remote ({serving.remote_provider})"
    else:
        engine = "none"
    return StatusInfo(workspace=str(workspace.root), deployed=deployed, engine=engine, gpu=detect_gpu())
