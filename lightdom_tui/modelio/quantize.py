"""Quantize a GGUF with llama.cpp's own ``llama_model_quantize`` (llama-cpp-python binding).

Names are llama.cpp's file types in lower case (``q4_k_m``, ``q8_0``, ``f16`` …),
read from the binding's ``LLAMA_FTYPE_*`` constants, so whatever llama.cpp offers
is accepted.

K-quants (``q*_k*``) pack rows in super-blocks of 256 values. llama.cpp falls back
per tensor when a row length is not a multiple of 256 (q4_k → q5_0, q5_k → q5_1,
q6_k → q8_0, and the like; see ``llama_tensor_get_type`` in llama.cpp), so a small
model such as the 64-wide test model still quantizes, but mostly to the fallback
types; the result's ``fallback`` field notes this.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from lightdom_tui.errors import LightdomError

FTYPE_PREFIXES = ("LLAMA_FTYPE_MOSTLY_", "LLAMA_FTYPE_ALL_")
K_QUANT_BLOCK = 256


@dataclass
class QuantizeResult:
    """The quantized file."""

    path: Path
    quant: str
    ftype: int
    size_bytes: int
    fallback: str | None = None


def quant_types() -> dict[str, int]:
    """Every quantization llama.cpp offers, by lower-case name → ftype constant."""
    import llama_cpp

    found: dict[str, int] = {}
    for attr in dir(llama_cpp):
        for prefix in FTYPE_PREFIXES:
            if attr.startswith(prefix):
                found[attr[len(prefix):].lower()] = int(getattr(llama_cpp, attr))
    return found


def ftype_for(quant: str) -> int:
    """The llama.cpp ftype of ``quant``; an unknown name lists the valid ones."""
    types = quant_types()
    key = quant.strip().lower()
    if key not in types:
        raise LightdomError(f"quant '{quant}': unknown; valid: {', '.join(sorted(types))}")
    return types[key]


def k_quant_fallback(quant: str, row_sizes: list[int]) -> str | None:
    """Describe llama.cpp's per-tensor fallback when a K-quant meets rows not divisible by 256."""
    if "_k" not in quant.lower():
        return None
    odd = sorted({n for n in row_sizes if n % K_QUANT_BLOCK})
    if not odd:
        return None
    return (
        f"rows of {', '.join(map(str, odd))} values are not multiples of {K_QUANT_BLOCK}: "
        "llama.cpp stores those tensors in a legacy fallback type (q5_0/q5_1/q8_0)"
    )


def quantize_gguf(src: Path, dst: Path, quant: str, *, n_threads: int = 0) -> QuantizeResult:
    """Quantize ``src`` (an f16/f32 GGUF) into ``dst`` via a temp file + rename."""
    import llama_cpp

    ftype = ftype_for(quant)
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise LightdomError(f"{src}: no such GGUF file")
    tmp = dst.with_name(dst.name + ".tmp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = n_threads
    from llama_cpp._utils import suppress_stdout_stderr

    # llama.cpp prints a line per tensor on stderr; keep the CLI's output clean.
    with suppress_stdout_stderr(disable=False):
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise LightdomError(f"{src}: llama.cpp could not quantize to {quant} (return code {rc})")
    tmp.replace(dst)
    return QuantizeResult(
        path=dst,
        quant=quant.lower(),
        ftype=ftype,
        size_bytes=dst.stat().st_size,
        fallback=k_quant_fallback(quant, _row_sizes(src)),
    )


def _row_sizes(path: Path) -> list[int]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return [int(t.shape[0]) for t in reader.tensors if len(t.shape) >= 2]
