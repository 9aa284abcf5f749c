"""`lightdom doctor`: what this machine and workspace can do, each check independent."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from lightdom_tui.workspace import is_workspace, resolve_home

KEYRING_TIMEOUT_S = 3.0


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_torch() -> dict[str, Any]:
    """torch version and the device training will use."""
    try:
        import torch
    except ImportError:
        return {"installed": False, "device": "none", "note": "training stack not installed (lightdom-tui[train])"}
    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "installed": True,
        "version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "device": "cuda" if cuda else "cpu",
        "threads": torch.get_num_threads(),
    }
    if cuda:
        info["gpu"] = torch.cuda.get_device_name(0)
        info["bf16"] = torch.cuda.is_bf16_supported()
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    info["precision"] = "bf16 + 4-bit" if cuda else "fp32 (4-bit QLoRA via bitsandbytes CPU backend)"
    return info


def check_llama_cpp() -> dict[str, Any]:
    """llama-cpp-python version and the llama.cpp build's features."""
    try:
        import llama_cpp
    except ImportError as exc:
        return {"installed": False, "error": str(exc)}
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    return {
        "installed": True,
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": info,
        **openmp_wait(),
    }


def openmp_wait() -> dict[str, Any]:
    """The OpenMP wait policy llama.cpp's CPU threads run under, and advice when the box is crowded.

    libgomp's default (spin briefly, then sleep) is fastest on a box that is not crowded
    (see :mod:`lightdom_tui.inference`); when other processes keep every CPU busy, a spinning
    thread waits on a partner that is not running, and PASSIVE can decode faster.
    """
    policy = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() or "default"
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    result: dict[str, Any] = {"omp_wait_policy": policy, "load_1m": round(load, 2)}
    if load > cpus and policy != "PASSIVE":
        result["omp_note"] = (f"load {load:.1f} exceeds the {cpus} CPUs: if decoding crawls, "
                              "start lightdom with OMP_WAIT_POLICY=PASSIVE")
    return result


def check_bitsandbytes() -> dict[str, Any]:
    """bitsandbytes version and backend (cpu / cuda)."""
    version = _version("bitsandbytes")
    if version is None:
        return {"installed": False}
    try:
        import torch

        backend = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        backend = "unknown"
    return {"installed": True, "version": version, "backend": backend}


def check_keyring() -> dict[str, Any]:
    """The keyring backend, looked up off-thread with a timeout (a locked collection can hang)."""
    result: dict[str, Any] = {"backend": None, "timed_out": False}

    def probe() -> None:
        try:
            import keyring

            result["backend"] = type(keyring.get_keyring()).__module__ + "." + type(keyring.get_keyring()).__name__
        except Exception as exc:  # any backend failure is a finding, not a crash
            result["error"] = str(exc)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(KEYRING_TIMEOUT_S)
    if thread.is_alive():
        result["timed_out"] = True
    return result


def check_disk(path: Path) -> dict[str, Any]:
    """Free space where the workspace lives."""
    usage = shutil.disk_usage(path if path.exists() else Path.cwd())
    return {"path": str(path), "free_gb": round(usage.free / 2**30, 1), "total_gb": round(usage.total / 2**30, 1)}


def check_workspace(home: Path | str | None) -> dict[str, Any]:
    """Whether the chosen folder is a workspace, its schema revision and row counts."""
    root = resolve_home(home)
    if not is_workspace(root):
        return {"path": str(root), "initialised": False, "hint": "run `lightdom init`"}
    from sqlalchemy import func
    from sqlmodel import select

    from lightdom_tui.db.engine import current_revision, head_revision
    from lightdom_tui.db.models import Example, ModelVersion
    from lightdom_tui.errors import LightdomError, database_error
    from lightdom_tui.workspace import open_workspace

    try:  # an invalid lightdom.toml is check_settings' finding; the database is checked regardless
        workspace = open_workspace(root, lenient_settings=True)
    except LightdomError as exc:
        return {"path": str(root), "initialised": True, "error": str(exc)}
    try:
        with workspace.session() as session:
            examples = session.exec(select(func.count()).select_from(Example)).one()
            models = session.exec(select(func.count()).select_from(ModelVersion)).one()
        return {
            "path": str(root),
            "initialised": True,
            "schema_revision": current_revision(workspace.engine),
            "schema_head": head_revision(),
            "examples": examples,
            "model_versions": models,
        }
    except Exception as exc:  # a damaged or read-only database is a finding, not a crash
        failure = database_error(workspace.db_path, exc)
        if failure is None:
            raise
        return {"path": str(root), "initialised": True, "error": str(failure)}
    finally:
        workspace.close()


def check_settings(home: Path | str | None) -> dict[str, Any]:
    """Whether ``lightdom.toml`` is valid, and every problem in it (doctor works when it is not)."""
    from lightdom_tui.settings import SETTINGS_FILE, read_settings

    root = resolve_home(home)
    read = read_settings(root)
    return {"file": str(root / SETTINGS_FILE), "valid": not read.problems, "problems": read.problems}


def check_export_memory(home: Path | str | None) -> list[dict[str, Any]]:
    """Memory a streamed export of each registered base model needs (from tensor tables, no weights read)."""
    root = resolve_home(home)
    if not is_workspace(root):
        return []
    from sqlmodel import select

    from lightdom_tui.db.models import ModelVersion
    from lightdom_tui.errors import LightdomError
    from lightdom_tui.modelio.memory import estimate_export_memory, gib
    from lightdom_tui.workspace import open_workspace

    try:
        workspace = open_workspace(root, lenient_settings=True)
    except LightdomError:  # check_workspace reports why
        return []
    try:
        with workspace.session() as session:
            bases = [(v.version, v.path) for v in session.exec(select(ModelVersion).where(ModelVersion.kind == "base"))]
    finally:
        workspace.close()
    found: list[dict[str, Any]] = []
    for version, path in bases:
        try:
            est = estimate_export_memory(Path(path))
        except Exception as exc:  # one unreadable base is a finding, not a crash
            found.append({"version": version, "error": str(exc)})
            continue
        found.append({
            "version": version,
            "params": est.params,
            "largest_tensor": est.largest_tensor,
            "export_peak_gb": gib(est.peak_bytes),
            "mapped_f16_gb": gib(est.mapped_bytes),
        })
    return found


def run_doctor(home: Path | str | None = None) -> dict[str, Any]:
    """All checks; each failure is reported in place, never raised."""
    from lightdom_tui.modelio.embedded import embedded_gguf_path

    try:
        embedded = str(embedded_gguf_path())
    except Exception as exc:
        embedded = f"missing: {exc}"
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "lightdom": _version("lightdom-tui"),
        "torch": check_torch(),
        "llama_cpp": check_llama_cpp(),
        "bitsandbytes": check_bitsandbytes(),
        "transformers": _version("transformers"),
        "peft": _version("peft"),
        "textual": _version("textual"),
        "keyring": check_keyring(),
        "disk": check_disk(resolve_home(home)),
        "embedded_model": embedded,
        "workspace": check_workspace(home),
        "settings": check_settings(home),
        "export_memory": check_export_memory(home),
    }
