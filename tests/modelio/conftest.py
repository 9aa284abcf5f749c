"""Modelio fixtures: a real LoRA adapter trained a few steps on the tiny Llama."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# llama.cpp's OpenMP threads busy-wait by default: a crawl on a shared box (see serving/__init__).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A PEFT LoRA adapter after a few optimizer steps (B is nonzero, so merging changes weights)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="float32")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"])
    model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    batch = tokenizer(['{"attributes":[{"name":"title","type":"string","description":"the title"}]}'],
                      return_tensors="pt")
    for _ in range(4):
        loss = model(**batch, labels=batch.input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    out = tmp_path_factory.mktemp("tiny-adapter")
    model.save_pretrained(out)
    return out


@pytest.fixture()
def adapter_version(workspace, tiny_model_dir: Path, tiny_adapter_dir: Path) -> str:
    """The tiny base (kind base, HF) and its adapter (kind adapter, parent = base) registered."""
    from lightdom_tui.registry.versions import register_version

    base_copy = workspace.models_dir / "base" / "tiny-llama"
    adapter_copy = workspace.models_dir / "adapters" / "tiny-lora"
    shutil.copytree(tiny_model_dir, base_copy)
    shutil.copytree(tiny_adapter_dir, adapter_copy)
    with workspace.session() as session:
        base = register_version(session, version="tiny-llama", kind="base", format="hf", path=base_copy,
                                architecture="llama")
        register_version(session, version="tiny-lora", kind="adapter", format="peft", path=adapter_copy,
                         parent_id=base.id, prompts={"attribute_generation": {"system": "Be brief."}})
    return "tiny-lora"


@pytest.fixture()
def relu_model_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The tiny model declaring an activation (relu) that llama.cpp's Llama graph does not have."""
    out = tmp_path / "tiny-relu"
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / "config.json").read_text())
    config["hidden_act"] = "relu"
    (out / "config.json").write_text(json.dumps(config))
    return out
