"""Training fixtures: the tiny base registered, and a small dataset version with tool calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training_helpers import conversations, make_dataset


@pytest.fixture()
def tiny_base(workspace: Any, tiny_model_dir: Path) -> str:
    """The tiny random Llama registered as base version ``tiny-llama``."""
    from lightdom_tui.registry.versions import register_version

    with workspace.session() as session:
        register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir,
                         architecture="llama")
    return "tiny-llama"


@pytest.fixture()
def small_dataset(workspace: Any) -> str:
    """24 train + 6 validation chats, including tool calls."""
    make_dataset(workspace, "attrs", conversations(30, seed=1), n_validation=6,
                 prompts={"attribute_generation": {"system": "You design data attributes."}})
    return "attrs"
