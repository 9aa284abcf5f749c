"""Adapter + base → one merged Hugging Face folder (kept only with ``--keep-merged``).

The GGUF export merges on its own while it writes (``gguf_export.export_gguf(adapter=)``);
this folder is for users who want the merged HF weights too. The base is an HF folder
(merged in float32 per tensor, saved in the base's own dtype) or a GGUF file (its
weights dequantized one at a time; saved as float32 so nothing is rounded twice).
The folder is written under a temp name and renamed when complete.
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


WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _copy_base_files(base_path: Path, tmp: Path) -> None:
    """Config, generation config and tokenizer files of the base, without its weights."""
    if base_path.is_dir():
        for item in base_path.iterdir():
            if item.is_file() and not item.name.endswith(WEIGHT_FILES) and not item.name.endswith(".index.json"):
                shutil.copy2(item, tmp / item.name)
        return
    from transformers import AutoConfig, AutoTokenizer

    # transformers reads a GGUF's config and tokenizer from its header, not its weights.
    config = AutoConfig.from_pretrained(str(base_path.parent), gguf_file=base_path.name)
    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
    config.dtype = "float32"
    config.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(base_path.parent), gguf_file=base_path.name).save_pretrained(tmp)


def merge_adapter(base_path: Path, adapter_path: Path | None, out_dir: Path, *, device: str = "cpu") -> MergeResult:
    """Merge a PEFT LoRA adapter into its base (or, without one, materialise the base) as an HF folder.

    Streamed: each base tensor is read, merged when the adapter changes it (float32 on
    ``device``) and written before the next is read, in the base tensor's own dtype
    (float32 for a GGUF base, whose weights are dequantized).
    """
    from lightdom_tui.modelio.tensors import (
        TensorSpec,
        iter_merged,
        limit_heap_growth,
        open_source,
        read_lora,
        write_safetensors,
    )

    base_path, out_dir = Path(base_path), Path(out_dir)
    limit_heap_growth()
    source = open_source(base_path)
    lora = read_lora(Path(adapter_path)) if adapter_path is not None else None
    if lora is not None:
        unknown = sorted(lora.delta_names() - set(source.names()))
        if unknown:
            raise LightdomError(f"{adapter_path}: changes {unknown[0]!r}, which the base {base_path} does not have")
    names = source.names()
    specs = [TensorSpec(n, source.specs[n].dtype, source.specs[n].shape) for n in names]
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _copy_base_files(base_path, tmp)
        write_safetensors(tmp / "model.safetensors", specs, (t for _, t in iter_merged(source, lora, names, device)))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return MergeResult(
        path=out_dir,
        dtype=base_save_dtype(base_path),
        base_format="gguf" if base_path.suffix == ".gguf" else "hf",
        adapter=Path(adapter_path) if adapter_path else None,
    )
