"""How much memory an export of a base model needs, from its tensor table alone.

The streamed export holds one tensor at a time: the stored copy, its float32 merge
(when the adapter changes it) and its f16 output; verification's reference holds one
decoder layer (or the embedding) in float32. Everything else is a fixed allowance:
the Python stack (torch, transformers, llama.cpp) and llama.cpp's compute buffers,
measured by ``bench/export_scale.py``. The f16 GGUF that llama.cpp maps while it
quantizes and verifies is reported apart: those are file pages the kernel can drop,
not memory the export must own.
"""

from __future__ import annotations


from dataclasses import dataclass
from pathlib import Path

from lightdom_tui.modelio.tensors import ST_ITEMSIZE, GGUFSource, open_source

# Stack imports (~445 MiB: torch, transformers, llama.cpp) + llama.cpp's buffers + slack;
# bench/results/export_scale.json checks the estimate against measured peaks.
EXPORT_ALLOWANCE_BYTES = 640 * 2**20


@dataclass
class ExportMemory:
    """Memory estimate for exporting one base model (bytes)."""

    params: int
    largest_tensor: str
    largest_tensor_params: int
    export_bytes: int  # merge + GGUF write, above the allowance
    verify_bytes: int  # layer-by-layer float32 reference, above the allowance
    mapped_bytes: int  # the f16 GGUF llama.cpp maps (reclaimable page cache)
    allowance_bytes: int = EXPORT_ALLOWANCE_BYTES

    @property
    def peak_bytes(self) -> int:
        """What the export needs at its peak: allowance + the larger of its two stages."""
        return self.allowance_bytes + max(self.export_bytes, self.verify_bytes)


def estimate_export_memory(path: Path) -> ExportMemory:
    """Estimate the streamed export's memory for the base at ``path`` (HF folder or GGUF)."""
    source = open_source(Path(path))
    specs = list(source.specs.values())
    largest = max(specs, key=lambda s: s.numel)
    stored = 4 if isinstance(source, GGUFSource) else ST_ITEMSIZE.get(largest.dtype, 4)
    layer = sum(s.numel for s in specs if s.name.startswith("model.layers.0."))
    params = sum(s.numel for s in specs)
    return ExportMemory(
        params=params,
        largest_tensor=largest.name,
        largest_tensor_params=largest.numel,
        export_bytes=largest.numel * (stored + 4 + 2),
        verify_bytes=(max(layer, largest.numel) + largest.numel) * 4,
        mapped_bytes=sum(2 * s.numel if len(s.shape) >= 2 else 4 * s.numel for s in specs),
    )


def gib(n: int) -> float:
    """Bytes → GiB, rounded for display."""
    return round(n / 2**30, 2) if n else 0.0



