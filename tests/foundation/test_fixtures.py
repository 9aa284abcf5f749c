"""The shared fixtures work: tiny model loads, generates, and keeps SmolLM2's tokenizer."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_tiny_model_fixture_is_a_loadable_llama_with_chat_template(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "llama"
    assert model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer) == 49152
    assert tokenizer.chat_template and "im_start" in tokenizer.chat_template
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text.startswith("<|im_start|>")
    ids = tokenizer("hello world", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert tokenizer.eos_token == "<|im_end|>"
