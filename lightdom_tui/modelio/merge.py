"""Adapter + base → one merged Hugging Face folder (what GGUF export reads).

The base is an HF folder (merged in float32, saved in the base's own dtype) or a
GGUF file (transformers dequantizes it; saved as float32 so nothing is rounded
twice). The folder is written under a temp name and renamed when complete.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError

SAVE_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class MergeResult:
    """The merged folder and how it was made."""

    path: Path
    dtype: str
    base_format: str  # hf / gguf
    adapter: Path | None


def load_base_model(base_path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) in float32 on the CPU for an HF folder or a GGUF file.

    Loads through ``modelio.load.load_base`` (the training side's loader). A model
    transformers built from a GGUF is flagged as quantized (it refuses ``.float()``
    and would serialise GGUF specifics), so its weights are moved into a fresh model
    of the same config, as ``modelio.load.dequantize_gguf`` does.
    """
    import torch

    from lightdom_tui.modelio.load import load_base

    base_path = Path(base_path)
    if not (base_path.is_file() and base_path.suffix == ".gguf") and not (base_path / "config.json").is_file():
        raise LightdomError(f"{base_path}: neither a .gguf file nor a Hugging Face folder with config.json")
    model, tokenizer = load_base(base_path, dtype=torch.float32, device="cpu")
    if base_path.suffix == ".gguf" or getattr(model, "hf_quantizer", None) is not None:
        with torch.device("meta"):  # no random init of weights about to be replaced
            fresh = type(model)(model.config)
        fresh.load_state_dict(model.state_dict(), assign=True)
        fresh.tie_weights()
        if getattr(fresh.config, "quantization_config", None) is not None:
            del fresh.config.quantization_config  # the merged folder holds plain float weights
        model = fresh
    return model.eval(), tokenizer


def base_save_dtype(base_path: Path) -> str:
    """The dtype to save merged weights in: the HF base's own, float32 for a GGUF base."""
    config = Path(base_path) / "config.json"
    if not config.is_file():
        return "float32"
    data = json.loads(config.read_text(encoding="utf-8"))
    dtype = str(data.get("dtype") or data.get("torch_dtype") or "float32")
    return dtype if dtype in SAVE_DTYPES else "float32"


def merge_adapter(base_path: Path, adapter_path: Path | None, out_dir: Path) -> MergeResult:
    """Merge a PEFT adapter into its base (or, without one, materialise the base) as an HF folder."""
    import torch

    base_path, out_dir = Path(base_path), Path(out_dir)
    if adapter_path is not None and not (Path(adapter_path) / "adapter_config.json").is_file():
        raise LightdomError(f"{adapter_path}: no adapter_config.json; not a PEFT adapter folder")
    model, tokenizer = load_base_model(base_path)
    if adapter_path is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()
    dtype = base_save_dtype(base_path)
    model = model.to(getattr(torch, dtype))
    model.config.dtype = dtype
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return MergeResult(
        path=out_dir,
        dtype=dtype,
        base_format="gguf" if base_path.suffix == ".gguf" else "hf",
        adapter=Path(adapter_path) if adapter_path else None,
    )
