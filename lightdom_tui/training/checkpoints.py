"""Checkpoints: adapter + optimizer + scheduler + RNG + loop state, written atomically.

Layout: ``models/runs/<run_id>/checkpoints/step-0000010/`` with ``adapter/`` (peft),
``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` and ``state.json``. A checkpoint is
written to a hidden temp folder and renamed into place, so a kill -9 or a full disk
leaves either the whole checkpoint or none; only the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "state.json"
PREFIX = "step-"


@dataclass
class LoopState:
    """Where the training loop is; enough to continue exactly after a crash."""

    step: int = 0  # optimizer steps done
    micro_batches: int = 0  # micro-batches consumed from the shuffled stream
    tokens_seen: int = 0
    label_tokens_seen: int = 0
    best_eval_loss: float | None = None
    best_step: int | None = None
    best_task_score: float | None = None  # the task metric (config.task_metric) at best_step
    evals_without_improvement: int = 0
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0  # process CPU time of the steps (robust to other load)
    eval_seconds: float = 0.0  # wall time of the evals (the time budget counts them too)
    early_stopped: bool = False


def checkpoints_dir(run_dir: Path) -> Path:
    """Folder holding a run's checkpoints."""
    return run_dir / CHECKPOINTS_DIR


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: LoopState, keep: int = 2) -> Path:
    """Write a checkpoint for ``state.step`` atomically; prune older ones. Errors name the path."""
    import torch

    folder = checkpoints_dir(run_dir)
    final = folder / f"{PREFIX}{state.step:07d}"
    tmp = folder / f".{final.name}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        model.save_pretrained(tmp / "adapter", safe_serialization=True)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(_rng_state(), tmp / "rng.pt")
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        tmp.replace(final)
    except Exception as exc:  # ENOSPC surfaces as OSError, RuntimeError (torch.save) or SafetensorError
        shutil.rmtree(tmp, ignore_errors=True)
        raise LightdomError(f"checkpoint {final}: could not be written ({exc})") from exc
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> LoopState:
    """Restore adapter weights, optimizer, scheduler and RNG from ``path``; return the loop state."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter_file = path / "adapter" / "adapter_model.safetensors"
    if not adapter_file.is_file():
        raise LightdomError(f"checkpoint {path}: adapter weights missing")
    device = next(model.parameters()).device
    set_peft_model_state_dict(model, load_file(str(adapter_file), device=str(device)))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device, weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    data = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    return LoopState(**data)
