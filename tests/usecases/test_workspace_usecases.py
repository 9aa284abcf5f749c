"""Workspace use cases (settings, demo) and the faces that call them: the CLI and the TUI settings screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightdom_tui.cli import app
from lightdom_tui.errors import LightdomError
from lightdom_tui.settings import load_settings
from lightdom_tui.usecases.loop import run_demo
from lightdom_tui.usecases.workspace import save_setting_edits, set_setting, show_settings


def test_settings_through_the_use_cases_and_the_cli_agree(workspace) -> None:  # noqa: ANN001
    change = set_setting(workspace.root, "serving.n_threads", "3")
    assert (change.key, change.value) == ("serving.n_threads", 3)
    workspace.settings = load_settings(workspace.root)  # what a fresh open would read
    shown = show_settings(workspace)
    assert shown.values["serving"]["n_threads"] == 3 and "n_threads = 3" in shown.toml

    out = CliRunner().invoke(app, ["--home", str(workspace.root), "settings", "show", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == shown.values


def test_setting_edits_save_all_or_nothing(workspace) -> None:  # noqa: ANN001
    before = (workspace.root / "lightdom.toml").read_text(encoding="utf-8")
    with pytest.raises(LightdomError, match="serving.n_ctx"):
        save_setting_edits(workspace.root, workspace.settings, {"serving.n_threads": "2", "serving.n_ctx": "lots"})
    assert (workspace.root / "lightdom.toml").read_text(encoding="utf-8") == before  # the good edit is not half-saved

    saved = save_setting_edits(workspace.root, workspace.settings, {"serving.n_threads": "2"})
    assert saved.serving.n_threads == 2 == load_settings(workspace.root).serving.n_threads


def test_demo_refuses_an_unknown_method_before_any_stage(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    with pytest.raises(LightdomError, match="--method 'dora'"):
        run_demo(home, method="dora", log=lambda line: None)
    assert not home.exists()  # nothing was created: the check comes before init

    out = CliRunner().invoke(app, ["demo", "--home", str(home), "--method", "dora", "--json"])
    assert out.exit_code == 1 and "qlora, lora" in out.stderr and out.stdout == ""
    assert not home.exists()
