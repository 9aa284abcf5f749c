"""A DeepSeek-R1-Distill-Qwen stand-in through `lightdom export` at the CLI's default q4_k_m.

The weights are a tiny random Qwen2 (rows of 256, so q4_k_m really stores Q4_K
blocks); the tokenizer is SmolLM2's with DeepSeek's special tokens, the unspecial
``<think>``/``</think>`` tokens and the R1-Distill chat template (data/). What must
survive the export: the template byte for byte, BOS/EOS, ``<think>`` as one token
that llama.cpp prints, and JSON-schema-constrained attribute answers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TEMPLATE = (Path(__file__).parent / "data" / "deepseek_r1_distill_qwen.jinja").read_text(encoding="utf-8")
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"


@pytest.fixture()
def deepseek_versions(workspace, tiny_tokenizer_dir: Path, tmp_path: Path) -> tuple[str, int]:
    """Base ``ds-tiny`` (HF, Qwen2) and its LoRA adapter ``ds-lora`` registered; returns (adapter, <think> id)."""
    import torch
    from test_streamed_export import write_random_lora
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from lightdom_tui.registry.versions import register_version

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tokenizer.add_special_tokens({"bos_token": BOS, "eos_token": EOS,
                                  "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"]})
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)
    tokenizer.chat_template = TEMPLATE
    torch.manual_seed(5)
    config = Qwen2Config(
        vocab_size=(len(tokenizer) + 63) // 64 * 64,  # padded like Qwen's, so unused rows are exported too
        hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # decisive next-token choices, so q4_k_m's agreement check means something
        model.model.embed_tokens.weight.normal_(0, 1.0)
        model.lm_head.weight.normal_(0, 0.05)
    base_dir = workspace.models_dir / "base" / "ds-tiny"
    model.save_pretrained(base_dir, safe_serialization=True)
    tokenizer.save_pretrained(base_dir)
    targets = {f"model.layers.{i}.self_attn.{p}.weight": (256 if p == "q_proj" else 128, 256)
               for i in range(2) for p in ("q_proj", "v_proj")}
    adapter_dir = write_random_lora(workspace.models_dir / "adapters" / "ds-lora", targets, seed=2)
    with workspace.session() as session:
        base = register_version(session, version="ds-tiny", kind="base", format="hf", path=base_dir,
                                architecture="qwen2")
        register_version(session, version="ds-lora", kind="adapter", format="peft", path=adapter_dir,
                         parent_id=base.id)
    return "ds-lora", tokenizer.convert_tokens_to_ids("<think>")


def test_deepseek_template_think_and_constrained_json_survive_a_q4_k_m_export(workspace, deepseek_versions):
    import llama_cpp
    from gguf import GGMLQuantizationType, GGUFReader
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from transformers import AutoTokenizer

    from lightdom_tui.modelio.pipeline import export_model
    from lightdom_tui.prompts import ATTRIBUTE_SCHEMA, validate_attribute_answer

    adapter, think_id = deepseek_versions
    result = export_model(workspace, adapter, keep_merged=False)  # q4_k_m: the CLI default

    assert result.quant == "q4_k_m" and result.verification["passed"], result.verification["reasons"]
    types = {t.tensor_type for t in GGUFReader(result.path).tensors}
    assert GGMLQuantizationType.Q4_K in types
    hf = AutoTokenizer.from_pretrained(workspace.models_dir / "base" / "ds-tiny")
    messages = [{"role": "system", "content": "You design data attributes."},
                {"role": "user", "content": "Topic: blog post\nCount: 1"}]
    llm = llama_cpp.Llama(result.path, verbose=False, n_ctx=1024, n_threads=2)
    try:
        meta = llm.metadata
        assert meta["tokenizer.chat_template"] == TEMPLATE
        assert int(meta["tokenizer.ggml.eos_token_id"]) == hf.eos_token_id
        assert int(meta["tokenizer.ggml.bos_token_id"]) == hf.bos_token_id
        rendered = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=EOS, bos_token=BOS)(
            messages=messages).prompt
        assert rendered == hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert rendered.endswith("<｜Assistant｜><think>\n")
        # <think> is one token both ways, and llama.cpp prints it (a control token would vanish from the text).
        assert llm.tokenize(b"<think>", add_bos=False, special=True) == [think_id]
        assert llm.detokenize([think_id]) == b"<think>"
        forced = llm.create_completion(rendered, max_tokens=1, temperature=0, logit_bias={think_id: 100.0})
        assert forced["choices"][0]["text"] == "<think>"
        schema = copy.deepcopy(ATTRIBUTE_SCHEMA)
        schema["properties"]["attributes"]["maxItems"] = 1  # a random greedy model repeats itself
        item = schema["properties"]["attributes"]["items"]["properties"]
        # Bounded strings (a random model would run a string to max_tokens); llama.cpp's schema
        # converter ignores maxLength next to a pattern, so the name's bound is in its pattern.
        item["name"]["pattern"], item["description"]["maxLength"] = "^[a-z][a-z0-9_]{0,23}$", 40
        reply = llm.create_chat_completion(messages, max_tokens=400, temperature=0,
                                           response_format={"type": "json_object", "schema": schema})
    finally:
        llm.close()
    text = reply["choices"][0]["message"]["content"]
    assert reply["choices"][0]["finish_reason"] == "stop", text
    check = validate_attribute_answer(text)
    assert check.json_valid and check.attributes and not check.errors, (text, check.errors)
    assert json.loads(text)["attributes"]
