"""`doctor` says what memory an export of each registered base needs, from tensor tables alone."""

from __future__ import annotations

import math
from pathlib import Path


def test_doctor_reports_the_streamed_export_memory_of_each_base(workspace, tiny_model_dir: Path):
    from safetensors import safe_open

    from lightdom_tui.doctor import check_export_memory
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
    from lightdom_tui.modelio.memory import EXPORT_ALLOWANCE_BYTES, estimate_export_memory
    from lightdom_tui.registry.versions import register_version

    with workspace.session() as session:
        register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir)
    with safe_open(str(tiny_model_dir / "model.safetensors"), framework="pt") as handle:
        shapes = {name: handle.get_slice(name).get_shape() for name in handle.keys()}
    estimate = estimate_export_memory(tiny_model_dir)
    assert estimate.params == sum(math.prod(s) for s in shapes.values())
    assert estimate.largest_tensor == "model.embed_tokens.weight"  # 49152 × 64: the largest by far
    # one tensor's stored copy (float32 here) + float32 merge + f16 output, not the model
    assert estimate.peak_bytes - EXPORT_ALLOWANCE_BYTES == (4 + 4 + 2) * max(math.prod(s) for s in shapes.values())

    found = {row["version"]: row for row in check_export_memory(workspace.root)}
    assert set(found) == {EMBEDDED_VERSION, "tiny-llama"}
    smol = found[EMBEDDED_VERSION]  # a GGUF base: its tensor table, dequantized to float32 per tensor
    assert smol["params"] > 100_000_000 and smol["largest_tensor"] == "model.embed_tokens.weight"
    assert 0.6 < smol["export_peak_gb"] < 1.5 and 0.2 < smol["mapped_f16_gb"] < 0.4
