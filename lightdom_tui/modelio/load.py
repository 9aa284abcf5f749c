"""Load a base model for training: a local HF folder (safetensors) or a GGUF file.

GGUF files are dequantised by transformers (``from_pretrained(dir, gguf_file=...)``);
for training they are converted once into a cached HF folder under
``models/base/<version>-hf/`` so that later runs load fast and QLoRA (bitsandbytes
needs real weights to quantise) works. Llama and Qwen2 architectures are supported
(DeepSeek coder/LLM checkpoints are Llama, the R1 distills Qwen2).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.errors import LightdomError

from lightdom_tui.modelio.shape import ModelShape

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lightdom_tui.db.models import ModelVersion
    from lightdom_tui.workspace import Workspace

SUPPORTED_ARCHITECTURES = ("llama", "qwen2", "mistral")
HF_CACHE_SUFFIX = "-hf"


@dataclass
class BaseModelRef:
    """A base model resolved to a file or folder, with its registry record when it has one."""

    path: Path
    is_gguf: bool
    version: ModelVersion | None = None

    @property
    def name(self) -> str:
        """The registry name, else the file or folder name."""
        return self.version.version if self.version is not None else self.path.stem


def _check_exists(path: Path) -> Path:
    if not path.exists():
        raise LightdomError(f"base model {path}: no such file or folder")
    if path.is_dir() and not (path / "config.json").is_file():
        raise LightdomError(f"base model {path}: not a Hugging Face model folder (no config.json)")
    return path


def resolve_base(workspace: Workspace, ref: str | int | Path) -> BaseModelRef:
    """A version name / alias / id, or a path, to a checked ``BaseModelRef``."""
    from lightdom_tui.registry.versions import find_version

    candidate = Path(str(ref)).expanduser()
    looks_like_path = isinstance(ref, Path) or "/" in str(ref) or str(ref).endswith(".gguf") or candidate.exists()
    with workspace.session() as session:
        version = None if looks_like_path else find_version(session, ref)
        if version is None and looks_like_path:
            resolved = str(candidate.resolve())
            from sqlmodel import select

            from lightdom_tui.db.models import ModelVersion

            version = session.exec(select(ModelVersion).where(ModelVersion.path == resolved)).first()
    if version is None and not looks_like_path:
        raise LightdomError(f"base model '{ref}': no such version, alias or path (see `lightdom models list`)")
    if version is not None and version.kind not in ("base", "merged"):
        raise LightdomError(f"base model '{ref}': is a {version.kind} version; train on a base or merged model")
    path = Path(version.path) if version is not None else candidate.resolve()
    _check_exists(path)
    return BaseModelRef(path=path, is_gguf=path.is_file() and path.suffix == ".gguf", version=version)


def _gguf_reader(path: Path) -> Any:
    from gguf import GGUFReader

    try:
        return GGUFReader(str(path))
    except Exception as exc:  # gguf raises ValueError/struct errors on garbage
        raise LightdomError(f"base model {path}: not a readable GGUF file ({exc})") from exc


def _architecture(reader: Any, path: Path) -> str:
    field = reader.fields.get("general.architecture")
    if field is None:
        raise LightdomError(f"base model {path}: GGUF has no general.architecture")
    return bytes(field.parts[field.data[0]]).decode()


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file (read from its header, weights untouched)."""
    return _architecture(_gguf_reader(path), path)


def check_gguf_supported(path: Path) -> str:
    """The GGUF's architecture, or a clear error when we can't train on it."""
    return _supported(path, gguf_architecture(path))


def _supported(path: Path, arch: str) -> str:
    if arch not in SUPPORTED_ARCHITECTURES:
        raise LightdomError(
            f"base model {path}: GGUF architecture '{arch}' is not supported for training "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    return arch


def inspect_base(path: Path) -> ModelShape:
    """Dimensions of a base model from config.json or GGUF metadata (no weights loaded)."""

    path = _check_exists(Path(path))
    if path.is_dir():
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        heads = int(cfg["num_attention_heads"])
        return ModelShape(
            architecture=str(cfg.get("model_type", "unknown")),
            hidden=int(cfg["hidden_size"]),
            layers=int(cfg["num_hidden_layers"]),
            intermediate=int(cfg["intermediate_size"]),
            heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            vocab=int(cfg["vocab_size"]),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )
    stat = path.stat()
    return replace(_gguf_shape(str(path.resolve()), stat.st_mtime_ns, stat.st_size))  # a copy: callers own it


@lru_cache(maxsize=8)
def _gguf_shape(path_text: str, mtime_ns: int, size: int) -> ModelShape:
    """A GGUF's dimensions, read once per file version: GGUFReader parses every metadata field (SmolLM2's
    49k-token vocabulary took 7 s a read on a busy 2-core box) and the training form's plan asks on each edit."""
    reader = _gguf_reader(Path(path_text))
    arch = _supported(Path(path_text), _architecture(reader, Path(path_text)))

    def scalar(key: str) -> int:
        field = reader.fields[f"{arch}.{key}"]
        return int(field.parts[field.data[0]][0])

    tokens = reader.fields.get("tokenizer.ggml.tokens")
    heads = scalar("attention.head_count")
    kv_key = f"{arch}.attention.head_count_kv"
    return ModelShape(
        architecture=arch,
        hidden=scalar("embedding_length"),
        layers=scalar("block_count"),
        intermediate=scalar("feed_forward_length"),
        heads=heads,
        kv_heads=scalar("attention.head_count_kv") if kv_key in reader.fields else heads,
        vocab=len(tokens.data) if tokens is not None else 32000,
        tied_embeddings=not any(t.name == "output.weight" for t in reader.tensors),
    )


def default_dtype(device: str) -> Any:
    """bf16 on CUDA when supported, else fp32 (CPU training is fp32)."""
    import torch

    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def dequantize_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Convert a GGUF into an fp32 HF folder at ``out_dir`` (written to a temp name, then renamed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_gguf_supported(gguf_path)
    if (out_dir / "config.json").is_file():
        return out_dir
    _quiet_transformers()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        kwargs = {"gguf_file": gguf_path.name}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
        # A fresh model from a clean config: the loaded one carries a GgufConfig
        # quantization_config that would make bitsandbytes refuse the folder later.
        settings = {k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"}
        fresh = type(loaded)(type(loaded.config).from_dict(settings))
        fresh.load_state_dict(loaded.state_dict())
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.replace(out_dir)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def hf_cache_dir(workspace: Workspace, base: BaseModelRef) -> Path:
    """Where the dequantised copy of a GGUF base lives: ``models/base/<version>-hf``."""
    return workspace.models_dir / "base" / f"{base.name}{HF_CACHE_SUFFIX}"


def trainable_folder(workspace: Workspace, base: BaseModelRef) -> Path:
    """An HF folder for ``base``: itself, or its cached dequantised copy for a GGUF."""
    if not base.is_gguf:
        return base.path
    return dequantize_gguf(base.path, hf_cache_dir(workspace, base))


def load_tokenizer(path: Path) -> Any:
    """The tokenizer of an HF folder or GGUF file, with a pad token set."""
    from transformers import AutoTokenizer

    path = Path(path)
    if path.is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(
    path_or_gguf: str | Path,
    *,
    dtype: Any = None,
    quantize_4bit: bool = False,
    device: str | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from an HF folder or a GGUF file.

    ``quantize_4bit`` loads the linear layers as bitsandbytes NF4 with double quantisation
    (QLoRA); a GGUF is first dequantised into a temporary HF folder for that. ``dtype``
    defaults to bf16 on CUDA, fp32 on CPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = _check_exists(Path(path_or_gguf).expanduser())
    is_gguf = path.is_file()
    if is_gguf:
        if path.suffix != ".gguf":
            raise LightdomError(f"base model {path}: a file must be a .gguf")
        check_gguf_supported(path)
    else:
        _check_hf_architecture(path)
    device = device or default_device()
    dtype = dtype or default_dtype(device)
    _quiet_transformers()
    if is_gguf and quantize_4bit:
        import tempfile

        folder = dequantize_gguf(path, Path(tempfile.mkdtemp(prefix="lightdom-gguf-")) / "hf")
        return load_base(folder, dtype=dtype, quantize_4bit=True, device=device)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if is_gguf:
        kwargs["gguf_file"] = path.name
        source = str(path.parent)
    else:
        source = str(path)
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if not quantize_4bit:
        model.to(torch.device(device))
    return model, load_tokenizer(path)


def _check_hf_architecture(path: Path) -> None:
    model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise LightdomError(
            f"base model {path}: architecture '{model_type}' is not supported for training "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
