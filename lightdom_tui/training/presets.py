"""Training presets read from ``presets.toml`` (shipped with the package)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.training.config import TrainConfig

INFO_KEYS = ("description", "device")


@dataclass
class Preset:
    """A named preset: its config plus the text shown to the user."""

    name: str
    description: str
    device: str
    config: TrainConfig


def _raw_presets() -> dict[str, dict[str, Any]]:
    text = (resources.files("lightdom_tui.training") / "presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def list_presets() -> list[Preset]:
    """Every shipped preset, in file order."""
    return [_build(name, data) for name, data in _raw_presets().items()]


def _build(name: str, data: dict[str, Any]) -> Preset:
    values = {k: v for k, v in data.items() if k not in INFO_KEYS}
    config = TrainConfig.from_dict(values, where=f"presets.toml [{name}]").validate()
    return Preset(name, str(data.get("description", "")), str(data.get("device", "any")), config)


def get_preset(name: str) -> Preset:
    """A preset by name; a clear error listing the known ones otherwise."""
    raw = _raw_presets()
    if name not in raw:
        raise LightdomError(f"preset '{name}': unknown (known: {', '.join(raw)})")
    return _build(name, raw[name])
