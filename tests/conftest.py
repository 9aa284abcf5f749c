"""Shared fixtures: temporary workspaces and a session-scoped tiny Llama model.

The tiny model is random (2 layers, hidden 64) but uses SmolLM2's real tokenizer
and chat template, read from the shipped GGUF, so training, merge, export and
llama.cpp round trips run on real code paths in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests must never reach a real desktop keyring (it can hang headless) nor a hub.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    """Path of the shipped SmolLM2-135M-Instruct Q4_1 GGUF."""
    from lightdom_tui.modelio.embedded import embedded_gguf_path

    return embedded_gguf_path()


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator["Workspace"]:  # noqa: F821
    """A fresh, initialised workspace with the embedded base model registered."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.workspace import create_workspace

    ws = create_workspace(tmp_path / "ws")
    register_embedded_model(ws)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, embedded_gguf: Path) -> Path:
    """SmolLM2's tokenizer (with chat template), extracted once from the GGUF."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_gguf.parent), gguf_file=embedded_gguf.name)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> Path:
    """A tiny random Llama (2 layers, hidden 64) saved as an HF folder with SmolLM2's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **TINY_CONFIG,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
