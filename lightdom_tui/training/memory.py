"""A rough memory estimate shown before a run starts, and a refusal when it clearly won't fit.

The estimate is deliberately simple (weights + LoRA parameters, gradients and Adam state +
activations + logits + runtime overhead); it only has to catch "7B LoRA in bf16 on a 12 GB
card" style mistakes, not predict the peak to the megabyte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.shape import ModelShape
from lightdom_tui.training.config import TrainConfig

GIB = 1 << 30
CUDA_OVERHEAD = int(0.6 * GIB)  # CUDA context + allocator slack
CPU_OVERHEAD = int(0.8 * GIB)  # Python, torch and transformers themselves
NF4_BYTES_PER_PARAM = 0.5 * 1.04  # 4 bits + double-quantised absmax per 64-block


@dataclass
class MemoryEstimate:
    """Bytes needed by a run, the bytes available on its device, and the verdict."""

    device: str
    needed_bytes: int
    available_bytes: int
    breakdown: dict[str, int] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes

    def summary(self) -> str:
        """One line for the CLI: needed vs available, with the biggest parts."""
        parts = ", ".join(f"{k} {v / GIB:.2f}" for k, v in self.breakdown.items())
        return (
            f"memory estimate {self.needed_bytes / GIB:.2f} GiB on {self.device} "
            f"(available {self.available_bytes / GIB:.2f} GiB; {parts})"
        )


def lora_params(shape: ModelShape, rank: int, layers: int | None = None) -> int:
    """Trainable parameters of rank-``rank`` adapters on every linear projection of ``layers`` layers (all)."""
    return (layers or shape.layers) * sum(rank * (a + b) for a, b in shape.linear_shapes())


def estimate_memory(shape: ModelShape, config: TrainConfig, device: str, available_bytes: int) -> MemoryEstimate:
    """Estimate the peak bytes of a LoRA/QLoRA run of ``shape`` with ``config`` on ``device``."""
    compute_bytes = 2 if device == "cuda" and config.dtype != "float32" else 4
    if config.method == "qlora":
        weights = int(shape.linear_params * NF4_BYTES_PER_PARAM) + shape.other_params * compute_bytes
    else:
        weights = shape.n_params * compute_bytes
    trainable = lora_params(shape, config.lora_r, len(config.layers_to_transform)) * 16  # fp32 param + grad + two Adam moments
    tokens = config.batch_size * config.max_seq_len
    per_layer = tokens * (shape.hidden * 16 + shape.intermediate * 4) * compute_bytes
    activations = per_layer * (2 if config.gradient_checkpointing else shape.layers)
    if config.gradient_checkpointing:
        activations += tokens * shape.hidden * compute_bytes * shape.layers
    logits = tokens * shape.vocab * 4 * 3  # fp32 logits, their softmax and its gradient
    overhead = CUDA_OVERHEAD if device == "cuda" else CPU_OVERHEAD
    breakdown = {
        "weights": weights,
        "adapter+optimizer": trainable,
        "activations": activations,
        "logits": logits,
        "runtime": overhead,
    }
    return MemoryEstimate(device, sum(breakdown.values()), available_bytes, breakdown)


def available_memory(device: str) -> int:
    """Free bytes where the run will live: GPU memory on CUDA, else available RAM."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(estimate: MemoryEstimate, *, force: bool = False) -> None:
    """Refuse with the reason when the run clearly won't fit (``force`` overrides)."""
    if estimate.fits or force:
        return
    biggest = max(estimate.breakdown, key=estimate.breakdown.__getitem__)
    raise LightdomError(
        f"{estimate.summary()}: won't fit (largest part: {biggest}); use a smaller preset, "
        "--method qlora, a shorter max_seq_len, gradient checkpointing, or --force"
    )
