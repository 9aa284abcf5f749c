"""Tensor-at-a-time access to model weights, so merge and export never hold a whole model.

- :class:`SafetensorsSource` reads one tensor per call from an HF folder's
  ``*.safetensors`` (sharded or not) with positioned reads: no memory map stays
  behind, so resident memory is the tensor being worked on, not the file.
- :class:`GGUFSource` gives a GGUF file's weights under their Hugging Face names and
  in the HF layout (dequantized to float32; Llama's q/k rows un-permuted), one
  tensor at a time; the memory map's pages are released after each tensor.
- :class:`LoraAdapter` reads a PEFT LoRA adapter and applies ``B·A·scale`` to the one
  base tensor it belongs to, in float32 on the chosen device.
- :func:`write_safetensors` writes tensors to a ``.safetensors`` file as they are produced.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import mmap
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lightdom_tui.errors import LightdomError

# safetensors dtype names ↔ torch dtype attribute names
ST_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64",
             "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
TORCH_TO_ST = {v: k for k, v in ST_DTYPES.items()}
ST_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
# Per-layer HF tensor suffixes of the Llama/Qwen2 family (used to name GGUF tensors back).
LAYER_SUFFIXES = (
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    "input_layernorm.weight", "post_attention_layernorm.weight",
)
GLOBAL_NAMES = ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight")
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def limit_heap_growth() -> None:
    """Serve every allocation of 128 KiB or more from its own mapping, for the rest of the process.

    glibc raises its mmap threshold each time a large block is freed; after that,
    tensor-sized blocks come from the heap, which fragments and keeps growing as
    tensors of varying sizes come and go (measured: ~4.5 MiB more resident memory per
    decoder layer). With a fixed threshold each tensor's memory goes back to the system
    when it is freed, so peak memory stays one tensor's worth. No-op off glibc.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class TensorSpec:
    """Name, safetensors dtype and shape of one stored tensor."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


def _torch_dtype(st_dtype: str) -> Any:
    import torch

    return getattr(torch, ST_DTYPES[st_dtype])


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header of a ``.safetensors`` file and the offset where its data begins."""
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise LightdomError(f"{path}: not a safetensors file (shorter than its header size)")
        (size,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(handle.read(size))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LightdomError(f"{path}: not a safetensors file (unreadable header: {exc})") from exc
    return header, 8 + size


class SafetensorsSource:
    """The tensors of an HF folder's safetensors files, read one at a time."""

    def __init__(self, folder: Path, files: list[Path] | None = None) -> None:
        self.folder = Path(folder)
        files = files if files is not None else sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise LightdomError(f"{self.folder}: no *.safetensors weights (save with safe_serialization=True)")
        self._where: dict[str, tuple[Path, int, int]] = {}
        self.specs: dict[str, TensorSpec] = {}
        for file in files:
            header, data_start = read_safetensors_header(file)
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                begin, end = info["data_offsets"]
                self._where[name] = (file, data_start + begin, end - begin)
                self.specs[name] = TensorSpec(name, info["dtype"], tuple(int(d) for d in info["shape"]))

    def names(self) -> list[str]:
        """Tensor names in file order."""
        return list(self.specs)

    def get(self, name: str) -> Any:
        """The tensor ``name`` as a torch tensor in its stored dtype (a private copy)."""
        import torch

        file, offset, nbytes = self._where[name]
        spec = self.specs[name]
        buffer = bytearray(nbytes)
        with open(file, "rb") as handle:
            handle.seek(offset)
            if handle.readinto(buffer) != nbytes:
                raise LightdomError(f"{file}: truncated at tensor {name!r}")
        if nbytes == 0:
            return torch.empty(spec.shape, dtype=_torch_dtype(spec.dtype))
        return torch.frombuffer(buffer, dtype=_torch_dtype(spec.dtype)).reshape(spec.shape)


def unpermute_qk(weights: Any, n_head: int) -> Any:
    """Inverse of ``gguf_export.permute_qk``: llama.cpp's interleaved rotary rows back to HF's half split."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, rows // n_head // 2, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@functools.lru_cache(maxsize=2)
def _cached_reader(path: str, mtime_ns: int, size: int) -> Any:
    import gguf

    return gguf.GGUFReader(path)


def gguf_reader(path: Path) -> Any:
    """A ``GGUFReader`` of ``path``, shared while the file is unchanged.

    Parsing the header builds Python objects for every vocabulary entry and merge
    (seconds for a 49k vocabulary), and an export reads one base several times.
    """
    path = Path(path)
    stat = path.stat()
    try:
        return _cached_reader(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:  # gguf raises ValueError/struct errors on garbage
        raise LightdomError(f"{path}: not a readable GGUF file ({exc})") from exc


class GGUFSource:
    """A GGUF model's weights under HF names and layout, dequantized one tensor at a time."""

    def __init__(self, path: Path) -> None:
        import gguf

        self.path = Path(path)
        self.reader = gguf_reader(self.path)
        self.architecture = self.field("general.architecture")
        if self.architecture not in ("llama", "qwen2"):
            raise LightdomError(f"{self.path}: GGUF architecture {self.architecture!r} is not supported for export")
        self.num_layers = int(self.field(f"{self.architecture}.block_count"))
        self.num_heads = int(self.field(f"{self.architecture}.attention.head_count"))
        self.num_kv_heads = int(self.field(f"{self.architecture}.attention.head_count_kv", self.num_heads))
        arch = gguf.MODEL_ARCH.LLAMA if self.architecture == "llama" else gguf.MODEL_ARCH.QWEN2
        name_map = gguf.get_tensor_name_map(arch, self.num_layers)
        to_hf: dict[str, str] = {}
        hf_names = list(GLOBAL_NAMES) + [
            f"model.layers.{i}.{suffix}" for i in range(self.num_layers) for suffix in LAYER_SUFFIXES
        ]
        for hf_name in hf_names:
            gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if gguf_name is not None:
                to_hf[gguf_name] = hf_name
        self._tensors: dict[str, Any] = {}
        self.specs: dict[str, TensorSpec] = {}
        for tensor in self.reader.tensors:
            hf_name = to_hf.get(tensor.name)
            if hf_name is None:
                raise LightdomError(f"{self.path}: tensor {tensor.name!r} has no Hugging Face name; cannot export it")
            self._tensors[hf_name] = tensor
            self.specs[hf_name] = TensorSpec(hf_name, "F32", tuple(int(d) for d in reversed(tensor.shape.tolist())))

    def field(self, key: str, default: Any = None) -> Any:
        """A metadata value (scalar, string or list); ``default`` when absent."""
        found = self.reader.fields.get(key)
        return default if found is None else found.contents()

    def names(self) -> list[str]:
        """HF tensor names in file order."""
        return list(self.specs)

    def get(self, name: str) -> Any:
        """The tensor ``name`` dequantized to float32, in HF layout."""
        import gguf
        import torch

        tensor = self._tensors[name]
        data = np.array(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32, copy=True)
        data = data.reshape(self.specs[name].shape)
        self._release()
        if self.architecture == "llama" and name.endswith("self_attn.q_proj.weight"):
            data = unpermute_qk(data, self.num_heads)
        elif self.architecture == "llama" and name.endswith("self_attn.k_proj.weight"):
            data = unpermute_qk(data, self.num_kv_heads)
        return torch.from_numpy(np.ascontiguousarray(data))

    def _release(self) -> None:
        # Pages read through the map stay in this process' RSS until dropped; the
        # kernel keeps them in its page cache, so a later read is still cheap.
        handle = getattr(self.reader.data, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                handle.madvise(mmap.MADV_DONTNEED)
            except OSError:
                pass


def open_source(path: Path) -> SafetensorsSource | GGUFSource:
    """The weight source for an HF folder or a ``.gguf`` file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return GGUFSource(path)
    if not (path / "config.json").is_file():
        raise LightdomError(f"{path}: neither a .gguf file nor a Hugging Face folder with config.json")
    return SafetensorsSource(path)


_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(.+?)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?(?:\.weight)?$")


@dataclass
class LoraAdapter:
    """A PEFT LoRA adapter: per base tensor, its A/B names and scale (weights read on demand)."""

    path: Path
    rank: int
    alpha: float
    use_rslora: bool
    target_modules: Any
    layers: list[int] | None
    pairs: dict[str, tuple[str, str, float, bool]] = field(default_factory=dict)  # base name → (A, B, scale, embedding)
    replaced: dict[str, str] = field(default_factory=dict)  # base name → adapter tensor saved whole (modules_to_save, biases)
    source: SafetensorsSource | None = None

    def delta_names(self) -> set[str]:
        """Base tensors this adapter changes."""
        return set(self.pairs) | set(self.replaced)

    def merge(self, name: str, base: Any, device: str = "cpu") -> Any:
        """``base`` with this adapter's change applied (float32 on ``device``), or ``base`` untouched."""
        import torch

        if name in self.replaced:
            return self.source.get(self.replaced[name]).to(device=device, dtype=torch.float32)  # type: ignore[union-attr]
        if name not in self.pairs:
            return base
        a_name, b_name, scale, embedding = self.pairs[name]
        weight = base.to(device=device, dtype=torch.float32)
        a = self.source.get(a_name).to(device=device, dtype=torch.float32)  # type: ignore[union-attr]
        b = self.source.get(b_name).to(device=device, dtype=torch.float32)  # type: ignore[union-attr]
        delta = (b @ a).T if embedding else b @ a
        if delta.shape != weight.shape:
            raise LightdomError(f"{self.path}: LoRA delta for {name} has shape {tuple(delta.shape)}, "
                                f"the base tensor {tuple(weight.shape)}; adapter and base do not match")
        weight.add_(delta, alpha=scale)
        return weight


def read_lora(adapter_dir: Path) -> LoraAdapter:
    """Parse a PEFT LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``)."""
    adapter_dir = Path(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LightdomError(f"{adapter_dir}: no adapter_config.json; not a PEFT adapter folder") from exc
    except ValueError as exc:
        raise LightdomError(f"{config_path}: not valid JSON ({exc})") from exc
    kind = config.get("peft_type", "LORA")
    if kind != "LORA":
        raise LightdomError(f"{config_path}: peft_type {kind!r}; only LoRA adapters can be merged")
    if config.get("use_dora"):
        raise LightdomError(f"{config_path}: DoRA adapters are not supported by the streamed merge")
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise LightdomError(f"{adapter_dir}: no adapter_model.safetensors (save the adapter with safetensors)")
    rank = int(config.get("r", 8))
    alpha = float(config.get("lora_alpha", rank))
    rslora = bool(config.get("use_rslora", False))
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}
    source = SafetensorsSource(adapter_dir, [adapter_dir / "adapter_model.safetensors"])
    adapter = LoraAdapter(path=adapter_dir, rank=rank, alpha=alpha, use_rslora=rslora,
                          target_modules=config.get("target_modules"), layers=config.get("layers_to_transform"),
                          source=source)
    halves: dict[str, dict[str, str]] = {}
    for name in source.names():
        match = _LORA_KEY.match(name)
        if match:
            module, part = match.group(1), match.group(2)
            halves.setdefault(module, {})[part.replace("lora_embedding_", "lora_")] = name
            if part.startswith("lora_embedding"):
                halves[module]["embedding"] = "1"
        else:  # saved whole: modules_to_save copies, trained biases
            plain = name.removeprefix("base_model.model.").replace(".modules_to_save.default", "")
            adapter.replaced[plain] = name
    for module, parts in halves.items():
        if "lora_A" not in parts or "lora_B" not in parts:
            raise LightdomError(f"{adapter_dir}: {module} has only one of lora_A/lora_B")
        short = module.split(".")[-1]
        r = int(_pattern_value(rank_pattern, module, short, source.specs[parts["lora_A"]].shape[0]))
        a = float(_pattern_value(alpha_pattern, module, short, alpha))
        scale = a / math.sqrt(r) if rslora else a / r
        adapter.pairs[f"{module}.weight"] = (parts["lora_A"], parts["lora_B"], scale, "embedding" in parts)
    return adapter


def _pattern_value(pattern: dict[str, Any], module: str, short: str, default: Any) -> Any:
    # PEFT matches rank/alpha patterns against the module name's tail.
    for key, value in pattern.items():
        if module == key or module.endswith("." + key) or short == key or re.search(rf"(^|\.){key}$", module):
            return value
    return default


def write_safetensors(path: Path, specs: list[TensorSpec], tensors: Iterable[Any],
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (torch, in ``specs`` order and dtypes) to ``path`` one at a time."""
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for spec in specs:
        nbytes = spec.numel * ST_ITEMSIZE[spec.dtype]
        header[spec.name] = {"dtype": spec.dtype, "shape": list(spec.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
        written = 0
        for spec, tensor in zip(specs, tensors, strict=True):
            import torch

            tensor = tensor.detach().to(device="cpu", dtype=_torch_dtype(spec.dtype)).contiguous()
            if tuple(tensor.shape) != spec.shape:
                raise LightdomError(f"{path}: tensor {spec.name} has shape {tuple(tensor.shape)}, expected {spec.shape}")
            data = tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else np.empty(0, np.uint8)
            out.write(memoryview(data))
            written += data.nbytes
    if written != offset:
        raise LightdomError(f"{path}: wrote {written} bytes of tensor data, expected {offset}")


def iter_merged(source: SafetensorsSource | GGUFSource, adapter: LoraAdapter | None, names: list[str],
                device: str = "cpu") -> Iterator[tuple[str, Any]]:
    """``(name, tensor)`` for each of ``names``, with the adapter's change applied where it has one."""
    for name in names:
        tensor = source.get(name)
        if adapter is not None:
            tensor = adapter.merge(name, tensor, device)
        yield name, tensor
