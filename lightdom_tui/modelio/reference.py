"""Reference logits from transformers' own layers, one decoder layer in memory at a time.

Verification compares llama.cpp against this. The model is built on the ``meta``
device (no memory); the embedding, each decoder layer, the final norm and the output
matrix are materialised in float32 from the weight source (base + LoRA delta, merged
exactly as the export merges), run on every sequence, and freed before the next.
Peak memory is one layer (or the embedding matrix) in float32 plus activations,
whatever the number of layers. The math is transformers' (its decoder layer, norm,
rotary embedding and activation from ``config.json``), so a mismatch against
llama.cpp is a real one, not a second implementation's bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lightdom_tui.modelio.tensors import GGUFSource, LoraAdapter, limit_heap_growth, open_source, read_lora


def reference_config(model_path: Path, source: Any) -> Any:
    """The transformers config of an HF folder, or one built from a GGUF base's header."""
    from transformers import AutoConfig, LlamaConfig, Qwen2Config

    if not isinstance(source, GGUFSource):
        return AutoConfig.from_pretrained(str(model_path))
    from lightdom_tui.modelio.gguf_export import hparams_from_gguf

    hp = hparams_from_gguf(source)
    kind = LlamaConfig if hp.architecture == "llama" else Qwen2Config
    return kind(
        vocab_size=hp.vocab_size, hidden_size=hp.hidden_size, intermediate_size=hp.intermediate_size,
        num_hidden_layers=hp.num_layers, num_attention_heads=hp.num_heads, num_key_value_heads=hp.num_kv_heads,
        head_dim=hp.head_dim, rms_norm_eps=hp.rms_norm_eps, rope_theta=hp.rope_theta,
        max_position_embeddings=hp.context_length, tie_word_embeddings=hp.tie_word_embeddings,
    )


def _materialise(module: Any, prefix: str, source: Any, lora: LoraAdapter | None, device: str,
                 rename: dict[str, str] | None = None) -> None:
    import torch

    state = {}
    for key in module.state_dict():
        name = (rename or {}).get(prefix + key, prefix + key)
        tensor = source.get(name)
        if lora is not None:
            tensor = lora.merge(name, tensor, device)
        state[key] = tensor.to(device=device, dtype=torch.float32)
    module.load_state_dict(state, assign=True, strict=True)


def reference_logits(
    model_path: Path,
    sequences: list[list[int]],
    *,
    adapter: Path | None = None,
    device: str = "cpu",
) -> list[np.ndarray]:
    """float32 logits at every position of each token sequence, computed layer by layer."""
    import torch
    from transformers import AutoModelForCausalLM

    limit_heap_growth()
    source = open_source(Path(model_path))
    lora = read_lora(Path(adapter)) if adapter is not None else None
    config = reference_config(Path(model_path), source)
    config._attn_implementation = "eager"  # the explicit additive causal mask below is all it needs
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    inner = model.model
    with torch.no_grad():
        _materialise(inner.embed_tokens, "model.embed_tokens.", source, lora, device)
        hidden = [inner.embed_tokens(torch.tensor([ids], device=device)) for ids in sequences]
        inner.embed_tokens.to("meta")
        rotary = type(inner.rotary_emb)(config=config).to(device)
        positions = [torch.arange(len(ids), device=device)[None] for ids in sequences]
        cos_sin = [rotary(h, p) for h, p in zip(hidden, positions)]
        masks = []
        for ids in sequences:
            n = len(ids)
            mask = torch.full((n, n), torch.finfo(torch.float32).min, device=device).triu(1)
            masks.append(mask[None, None])
        for index, layer in enumerate(inner.layers):
            _materialise(layer, f"model.layers.{index}.", source, lora, device)
            for i in range(len(sequences)):
                out = layer(hidden[i], attention_mask=masks[i], position_ids=positions[i],
                            position_embeddings=cos_sin[i])
                hidden[i] = out[0] if isinstance(out, tuple) else out
            layer.to("meta")
        _materialise(inner.norm, "model.norm.", source, lora, device)
        hidden = [inner.norm(h) for h in hidden]
        tied = "lm_head.weight" not in source.specs
        rename = {"lm_head.weight": "model.embed_tokens.weight"} if tied else None
        _materialise(model.lm_head, "lm_head.", source, lora, device, rename)
        return [model.lm_head(h)[0].float().cpu().numpy() for h in hidden]
