"""Merge an adapter snapshot of train_recipe.py into the base and write a q4_k_m GGUF.

Usage: python experiments/export_snapshot.py SNAPSHOT_DIR OUT.gguf [--quant q4_k_m]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HF_CACHE = Path("/tmp/lt9/smol_hf")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshot")
    ap.add_argument("out")
    ap.add_argument("--quant", default="q4_k_m")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.quantize import quantize_gguf

    model = AutoModelForCausalLM.from_pretrained(HF_CACHE, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, args.snapshot).merge_and_unload()
    with tempfile.TemporaryDirectory(dir="/tmp/lt9") as tmp:
        hf_dir = Path(tmp) / "merged"
        merged.save_pretrained(hf_dir)
        AutoTokenizer.from_pretrained(HF_CACHE).save_pretrained(hf_dir)
        f16 = Path(tmp) / "model-f16.gguf"
        export_gguf(hf_dir, f16, out_type="f16", name="smollm2-attr")
        result = quantize_gguf(f16, Path(args.out), args.quant, n_threads=2)
    print(f"{args.out} {result.size_bytes} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
