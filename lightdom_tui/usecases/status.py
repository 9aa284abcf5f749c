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
    """The model and engine ``generate`` would use now (as the serving router decides); GPU from the driver.

    The router falls back to the embedded base when nothing is routed, and answers
    locally only from a GGUF: the status line says the same, not "none / remote".
    """
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
    from lightdom_tui.registry.routing import choose_route
    from lightdom_tui.registry.versions import find_version

    with ws.session() as session:
        route = choose_route(session, TASK_TYPE)
        version = route.version or find_version(session, EMBEDDED_VERSION)
        if version is None:
            deployed = "none"
        elif route.version is None:
            deployed = f"{version.version} (embedded base)"
        else:
            deployed = version.version
        local = version is not None and version.format == "gguf"
        if version is not None and not local:
            deployed += f" ({version.format}: export to GGUF to serve)"
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
