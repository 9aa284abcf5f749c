"""Workspace use cases: create a workspace, check the machine, show and change settings.

``init``, ``doctor`` and ``settings`` (CLI) and the TUI's settings screen call these;
the faces never reach ``bootstrap``, ``doctor`` or the settings writer themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.settings import Settings, render_settings, save_settings, settings_to_dict, update_setting

if TYPE_CHECKING:  # bootstrap pulls in the registry and modelio: only when init runs
    from lightdom_tui.bootstrap import InitResult
    from lightdom_tui.workspace import SettingChange, Workspace


def init_workspace(home: Path | str | None, *, sample: bool = False) -> InitResult:
    """Create (or complete) a workspace and register the embedded model; ``sample`` ingests the shipped samples."""
    from lightdom_tui.bootstrap import init_workspace as create

    return create(home, sample=sample)


def run_doctor(home: Path | str | None) -> dict[str, Any]:
    """Every environment and workspace check; a failing check is reported in its entry, never raised."""
    from lightdom_tui.doctor import run_doctor as checks

    return checks(home)


@dataclass
class SettingsShown:
    """The settings in force: as plain values (for --json) and as commented TOML (for people)."""

    values: dict[str, Any]
    toml: str


def show_settings(ws: Workspace) -> SettingsShown:
    """The workspace's settings in force."""
    return SettingsShown(values=settings_to_dict(ws.settings), toml=render_settings(ws.settings))


def set_setting(home: Path | str | None, dotted_key: str, raw_value: str) -> SettingChange:
    """Validate and save one ``SECTION.KEY`` (TOML value); an invalid file is repaired, its old copy kept."""
    from lightdom_tui.workspace import change_setting

    return change_setting(home, dotted_key, raw_value)


def save_setting_edits(root: Path, settings: Settings, edits: dict[str, str]) -> Settings:
    """Apply typed values (``dotted key → TOML text``) one by one and save lightdom.toml.

    The first bad value raises naming its key and nothing is written, so the form keeps
    every edit for the user to correct.
    """
    for key, text in edits.items():
        settings = update_setting(settings, key, text)
    save_settings(root, settings)
    return settings
