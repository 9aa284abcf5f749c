"""HF folder or GGUF base (+ optional LoRA adapter) → GGUF (f16 or f32), streamed.

Llama and Qwen2, written with the `gguf` package. Steps, in order:
1. read ``config.json`` (or the GGUF base's header) into :class:`HParams`;
2. write the architecture's hyper-parameters under the format's own keys;
3. write the tokenizer: the byte-level BPE vocabulary and merges from
   ``tokenizer.json``, token types, special tokens, ``add_bos`` and the chat template
   (a GGUF base's tokenizer keys are carried over as they are);
4. write the tensor table from the sources' shapes, then every weight one at a time
   (merged with the adapter where it has a delta), renamed through ``TensorNameMap``;
   Llama's q/k projections are permuted into the interleaved rotary layout llama.cpp
   expects (Qwen2 uses the NeoX layout, which needs no permutation).

The file is written to a temp name and renamed, so a crash never leaves a half file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.tensors import GGUFSource, iter_merged, limit_heap_growth, open_source, read_lora

SUPPORTED_ARCHITECTURES = ("llama", "qwen2")
OUT_TYPES = ("f16", "f32")
# llama.cpp pre-tokenizer names we can recognise from tokenizer.json's pre_tokenizer.
QWEN2_SPLIT_PREFIX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"


@dataclass
class HParams:
    """The hyper-parameters the GGUF header needs, read from ``config.json``."""

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    context_length: int
    tie_word_embeddings: bool
    rope_scaling: dict[str, Any] | None = None


@dataclass
class GGUFExportResult:
    """What was written."""

    path: Path
    architecture: str
    out_type: str
    n_tensors: int
    tokenizer_pre: str


def read_hparams(model_dir: Path) -> HParams:
    """Parse ``config.json``; unsupported architectures are a clear error."""
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LightdomError(f"{path}: missing; not a Hugging Face model folder") from exc
    arch = config.get("model_type")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise LightdomError(
            f"{path}: model_type {arch!r} is not supported for GGUF export "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    # transformers 5 moved rope_theta into rope_parameters; older configs have it top level.
    rope = config.get("rope_parameters") or {}
    rope_theta = float(config.get("rope_theta") or rope.get("rope_theta") or 10000.0)
    scaling = config.get("rope_scaling") or (rope if rope.get("rope_type") not in (None, "default") else None)
    return HParams(
        architecture=arch,
        vocab_size=int(config["vocab_size"]),
        hidden_size=hidden,
        intermediate_size=int(config["intermediate_size"]),
        num_layers=int(config["num_hidden_layers"]),
        num_heads=heads,
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads),
        rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_theta=rope_theta,
        context_length=int(config.get("max_position_embeddings", 2048)),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        rope_scaling=scaling,
    )


def permute_qk(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder rows of a q/k projection from HF's half-split rotary layout to llama.cpp's interleaved one."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def detect_tokenizer_pre(tokenizer_json: dict[str, Any], architecture: str) -> str:
    """llama.cpp's pre-tokenizer name for this tokenizer.json.

    Recognised from the pre_tokenizer structure: a plain byte-level regex is GPT-2's ("gpt-2");
    digits split individually before it is SmolLM's; Qwen2's split regex is Qwen2's.
    Anything else falls back to "default" (callers can override with ``tokenizer_pre``;
    verification compares token ids, so a wrong choice is reported, not silent).
    """
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    for step in steps:
        pattern = (step.get("pattern") or {}).get("Regex", "")
        if step.get("type") == "Split" and pattern.startswith(QWEN2_SPLIT_PREFIX):
            return "qwen2"
    return "qwen2" if architecture == "qwen2" else "default"


def read_bpe_vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int], list[str], dict[str, Any]]:
    """Tokens (id order), token types and merges from a byte-level BPE ``tokenizer.json``.

    Vocabulary rows beyond the tokenizer (padding to ``vocab_size``) become unused tokens.
    """
    import gguf

    path = Path(model_dir) / "tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LightdomError(f"{path}: missing; only fast (tokenizer.json) BPE tokenizers are exported") from exc
    model = data.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise LightdomError(f"{path}: tokenizer model {model.get('type')!r} is not byte-level BPE")
    by_id: dict[int, tuple[str, int]] = {i: (t, gguf.TokenType.NORMAL) for t, i in model["vocab"].items()}
    for added in data.get("added_tokens", []):
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[int(added["id"])] = (added["content"], kind)
    if by_id and max(by_id) >= vocab_size:
        raise LightdomError(f"{path}: token id {max(by_id)} exceeds the model's vocab_size {vocab_size}")
    tokens, types = [], []
    for i in range(vocab_size):
        text, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(kind))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return tokens, types, merges, data


def tokenizer_adds_bos_eos(model_dir: Path, bos_id: int | None, eos_id: int | None) -> tuple[bool, bool]:
    """Whether the HF tokenizer prepends BOS / appends EOS (observed, not guessed)."""
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json")).encode("a").ids
    return bool(ids) and ids[0] == bos_id, bool(ids) and ids[-1] == eos_id and len(ids) > 1


def _write_hparams(writer: Any, hp: HParams, out_type: str, name: str) -> None:
    import gguf

    writer.add_name(name)
    writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.hidden_size)
    writer.add_block_count(hp.num_layers)
    writer.add_feed_forward_length(hp.intermediate_size)
    writer.add_head_count(hp.num_heads)
    writer.add_head_count_kv(hp.num_kv_heads)
    writer.add_layer_norm_rms_eps(hp.rms_norm_eps)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_rope_dimension_count(hp.head_dim)
    writer.add_vocab_size(hp.vocab_size)
    if hp.head_dim != hp.hidden_size // hp.num_heads:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    if hp.rope_scaling and hp.rope_scaling.get("rope_type", hp.rope_scaling.get("type")) == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(hp.rope_scaling["factor"]))
    file_type = gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.ALL_F32
    writer.add_file_type(file_type)


def _write_tokenizer(writer: Any, model_dir: Path, hp: HParams, tokenizer_pre: str | None) -> str:
    import gguf

    tokens, types, merges, data = read_bpe_vocab(model_dir, hp.vocab_size)
    pre = tokenizer_pre or detect_tokenizer_pre(data, hp.architecture)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    special = gguf.SpecialVocab(model_dir, load_merges=False, n_vocab=hp.vocab_size)
    special.add_to_gguf(writer, quiet=True)
    add_bos, add_eos = tokenizer_adds_bos_eos(
        model_dir, special.special_token_ids.get("bos"), special.special_token_ids.get("eos")
    )
    # Written explicitly: llama.cpp's default for BPE vocabularies differs between versions.
    if "bos" not in special.add_special_token:
        writer.add_add_bos_token(add_bos)
    if "eos" not in special.add_special_token:
        writer.add_add_eos_token(add_eos)
    return pre


def hparams_from_gguf(source: GGUFSource) -> HParams:
    """The hyper-parameters of a GGUF base, read from its header (weights untouched)."""
    arch = source.architecture
    heads = source.num_heads
    hidden = int(source.field(f"{arch}.embedding_length"))
    tokens = source.field("tokenizer.ggml.tokens") or []
    head_dim = int(source.field(f"{arch}.attention.key_length", 0) or source.field(f"{arch}.rope.dimension_count", 0)
                   or hidden // heads)
    return HParams(
        architecture=arch,
        vocab_size=int(source.field(f"{arch}.vocab_size", 0) or len(tokens)),
        hidden_size=hidden,
        intermediate_size=int(source.field(f"{arch}.feed_forward_length")),
        num_layers=source.num_layers,
        num_heads=heads,
        num_kv_heads=source.num_kv_heads,
        head_dim=head_dim,
        rms_norm_eps=float(source.field(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)),
        rope_theta=float(source.field(f"{arch}.rope.freq_base", 10000.0)),
        context_length=int(source.field(f"{arch}.context_length", 2048)),
        tie_word_embeddings="lm_head.weight" not in source.specs,
    )


def _copy_tokenizer(writer: Any, source: GGUFSource, pre: str | None) -> str:
    """Carry a GGUF base's tokenizer (vocabulary, merges, special ids, chat template) over unchanged."""
    import gguf

    pre = pre or str(source.field("tokenizer.ggml.pre", "default"))
    writer.add_tokenizer_pre(pre)
    for key, found in source.reader.fields.items():
        if not key.startswith("tokenizer.") or key == "tokenizer.ggml.pre":
            continue
        value = found.contents()
        kind = gguf.GGUFValueType(found.types[0])
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value, kind, sub_type=gguf.GGUFValueType(found.types[-1]))
        else:
            writer.add_key_value(key, value, kind)
    return pre


def gguf_tensor_name(name_map: Any, hf_name: str, architecture: str) -> str:
    """The GGUF name of an HF tensor; a tensor llama.cpp has no name for is a clear error."""
    new_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if new_name is None:
        raise LightdomError(f"tensor {hf_name!r}: no GGUF name for architecture {architecture}")
    return new_name


def _out_dtype(shape: tuple[int, ...], out_type: str) -> Any:
    # Norms and biases stay f32 (as llama.cpp's converter does); matrices take the output type.
    return np.float16 if out_type == "f16" and len(shape) >= 2 else np.float32


def _to_gguf_array(hf_name: str, tensor: Any, hp: HParams, out_type: str) -> np.ndarray:
    import torch

    dtype = _out_dtype(tuple(tensor.shape), out_type)
    data = tensor.to(device="cpu", dtype=torch.float16 if dtype == np.float16 else torch.float32).numpy()
    if hp.architecture == "llama":
        if hf_name.endswith("q_proj.weight"):
            data = permute_qk(data, hp.num_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = permute_qk(data, hp.num_kv_heads)
    return np.ascontiguousarray(data)


def export_gguf(
    model_dir: Path,
    out_path: Path,
    *,
    out_type: str = "f16",
    name: str | None = None,
    tokenizer_pre: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    adapter: Path | None = None,
    device: str = "cpu",
) -> GGUFExportResult:
    """Write ``out_path`` (GGUF, ``out_type`` f16 or f32) from an HF folder or a GGUF base.

    With ``adapter`` (a PEFT LoRA folder) each tensor it changes is merged on the way
    (``B·A·scale`` in float32 on ``device``); no merged model exists anywhere. Tensors
    are read, converted and written one at a time: the header and tensor table are
    written first from the sources' shapes, then each tensor's bytes, so memory holds
    one tensor (plus its float32 copy when merged), whatever the model's size.
    """
    import gguf

    if out_type not in OUT_TYPES:
        raise LightdomError(f"GGUF type {out_type!r}: expected one of {', '.join(OUT_TYPES)}")
    model_dir, out_path = Path(model_dir), Path(out_path)
    limit_heap_growth()
    source = open_source(model_dir)
    hp = hparams_from_gguf(source) if isinstance(source, GGUFSource) else read_hparams(model_dir)
    lora = read_lora(Path(adapter)) if adapter is not None else None
    if lora is not None:
        unknown = sorted(lora.delta_names() - set(source.names()))
        if unknown:
            raise LightdomError(f"{adapter}: changes {unknown[0]!r}, which the base {model_dir} does not have")
    arch = gguf.MODEL_ARCH.LLAMA if hp.architecture == "llama" else gguf.MODEL_ARCH.QWEN2
    name_map = gguf.get_tensor_name_map(arch, hp.num_layers)
    plan = [n for n in source.names()
            if not n.endswith("rotary_emb.inv_freq")  # recomputed by llama.cpp from rope.freq_base
            and not (hp.tie_word_embeddings and n == "lm_head.weight")]  # tied: llama.cpp reuses token_embd
    gguf_names = {n: gguf_tensor_name(name_map, n, hp.architecture) for n in plan}
    tmp = out_path.with_name(out_path.name + ".tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[arch])
    try:
        _write_hparams(writer, hp, out_type, name or (model_dir.stem if model_dir.suffix == ".gguf" else model_dir.name))
        if isinstance(source, GGUFSource):
            pre = _copy_tokenizer(writer, source, tokenizer_pre)
        else:
            pre = _write_tokenizer(writer, model_dir, hp, tokenizer_pre)
        for hf_name in plan:
            shape = source.specs[hf_name].shape
            dtype = np.dtype(_out_dtype(shape, out_type))
            writer.add_tensor_info(gguf_names[hf_name], shape, dtype, math.prod(shape) * dtype.itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total = len(plan)
        for done, (hf_name, tensor) in enumerate(iter_merged(source, lora, plan, device), start=1):
            writer.write_tensor_data(_to_gguf_array(hf_name, tensor, hp, out_type))
            del tensor
            if progress:
                progress(done, total)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    tmp.replace(out_path)
    return GGUFExportResult(
        path=out_path, architecture=hp.architecture, out_type=out_type, n_tensors=len(plan), tokenizer_pre=pre
    )


def read_gguf_metadata(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """Selected scalar/string metadata of a GGUF file (e.g. ``tokenizer.ggml.pre``)."""
    from lightdom_tui.modelio.tensors import gguf_reader

    reader = gguf_reader(Path(path))
    found: dict[str, Any] = {}
    for key in keys:
        field = reader.fields.get(key)
        if field is not None:
            found[key] = field.contents()
    return found
