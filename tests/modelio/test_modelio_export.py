"""Adapter → merge → GGUF → quantize → verify → register, on the tiny Llama with real peft and llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from lightdom_tui.db.models import ModelVersion
from lightdom_tui.errors import LightdomError

pytestmark = pytest.mark.slow


def _greedy_hf(model_dir: Path, ids: list[int], n: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(ids):].tolist()


def test_export_adapter_q8_0_registers_merged_and_gguf_with_lineage(workspace, adapter_version, tiny_model_dir):
    import llama_cpp
    from safetensors.numpy import load_file

    from lightdom_tui.modelio.pipeline import export_model

    stages: list[str] = []
    result = export_model(workspace, adapter_version, quant="q8_0", progress=lambda s, f: stages.append(s))

    assert result.verification["passed"] is True
    assert result.verification["quant"]["agreement"] >= 0.9
    assert result.quant == "q8_0" and Path(result.path).is_file() and result.size == Path(result.path).stat().st_size
    assert {"merge", "gguf", "quantize", "verify", "register"} <= set(stages)
    assert not list((workspace.models_dir / "gguf").glob("*.tmp")) and not list((workspace.models_dir / "gguf").glob("*.f16.gguf"))
    with workspace.session() as session:
        gguf = session.exec(select(ModelVersion).where(ModelVersion.version == result.version)).one()
        merged = session.get(ModelVersion, gguf.parent_id)
        adapter = session.get(ModelVersion, merged.parent_id)
    assert (gguf.kind, gguf.format, gguf.quant, gguf.sha256) == ("gguf", "gguf", "q8_0", result.sha256)
    assert merged.kind == "merged" and adapter.version == adapter_version
    assert json.loads(gguf.prompts_json) == {"attribute_generation": {"system": "Be brief."}}
    assert json.loads(gguf.verification_json)["passed"] is True
    # The adapter changed the weights: merged q_proj differs from the base's.
    base_w = load_file(str(tiny_model_dir / "model.safetensors"))
    merged_w = load_file(str(Path(merged.path) / "model.safetensors"))
    key = "model.layers.0.self_attn.q_proj.weight"
    assert np.abs(base_w[key] - merged_w[key]).max() > 1e-3
    # The quantized file loads and generates with llama.cpp.
    llm = llama_cpp.Llama(result.path, verbose=False, n_ctx=128, n_threads=2)
    try:
        assert len(llm.tokenize(b"hello")) >= 1
        assert llm.create_completion("hello", max_tokens=4, temperature=0)["choices"][0]["text"] is not None
    finally:
        llm.close()


def test_merged_f16_gguf_greedy_tokens_match_transformers(workspace, adapter_version, tmp_path):
    import llama_cpp
    from transformers import AutoTokenizer

    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.merge import merge_adapter

    with workspace.session() as session:
        adapter = session.exec(select(ModelVersion).where(ModelVersion.version == adapter_version)).one()
        base = session.get(ModelVersion, adapter.parent_id)
    merged = merge_adapter(Path(base.path), Path(adapter.path), tmp_path / "merged")
    out = export_gguf(merged.path, tmp_path / "merged.f16.gguf", out_type="f16")
    assert out.tokenizer_pre == "gpt-2" and out.architecture == "llama"

    tokenizer = AutoTokenizer.from_pretrained(merged.path)
    prompt = "Topic: blog post\nCount: 3"
    ids = tokenizer(prompt).input_ids
    llm = llama_cpp.Llama(str(out.path), logits_all=True, verbose=False, n_ctx=128, n_threads=2)
    try:
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
        assert llm.metadata["tokenizer.ggml.eos_token_id"] == str(tokenizer.eos_token_id)
        assert "im_start" in llm.metadata["tokenizer.chat_template"]
        llm.reset()
        llm.eval(ids)
        ours = []
        for _ in range(8):
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            ours.append(token)
            llm.eval([token])
    finally:
        llm.close()
    assert ours == _greedy_hf(merged.path, ids, 8)


def test_failed_verification_registers_nothing_and_says_why(workspace, relu_model_dir):
    from lightdom_tui.modelio.pipeline import ExportVerificationError, export_model
    from lightdom_tui.registry.versions import register_version

    with workspace.session() as session:
        register_version(session, version="tiny-relu", kind="base", format="hf", path=relu_model_dir)
        before = len(session.exec(select(ModelVersion)).all())
    with pytest.raises(ExportVerificationError) as caught:
        export_model(workspace, "tiny-relu", quant="f16")
    assert "logits differ" in str(caught.value) and "nothing registered" in str(caught.value)
    assert caught.value.report["f16"]["rel_diff"] > 0.02
    with workspace.session() as session:
        assert len(session.exec(select(ModelVersion)).all()) == before
    assert not [p for p in (workspace.models_dir / "gguf").iterdir()]


def test_unknown_quant_lists_valid_names_before_any_work(workspace, adapter_version):
    from lightdom_tui.modelio.pipeline import export_model

    with pytest.raises(LightdomError, match=r"quant 'q3_x': unknown; valid: .*q4_k_m.*q8_0"):
        export_model(workspace, adapter_version, quant="q3_x")
    with pytest.raises(LightdomError, match="no such version, alias or run"):
        export_model(workspace, "nope", quant="q8_0")


def test_a_run_reference_that_is_not_a_row_id_is_one_line(workspace):
    from lightdom_tui.modelio.pipeline import export_model

    for ref, shown in (("run:\u00b2", "run \u00b2"), ("run:99999999999999999999", "run 99999999999999999999"),
                       ("99999999999999999999", "no such version")):
        with pytest.raises(LightdomError, match=shown):  # not a ValueError from int() or an OverflowError
            export_model(workspace, ref, quant="q8_0")


def test_qwen2_tiny_model_exports_and_verifies(tmp_path, tiny_tokenizer_dir):
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.verify import verify_export

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(3)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # nonzero q/k/v biases, so a dropped bias would show
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    model_dir = tmp_path / "tiny-qwen2"
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)

    out = export_gguf(model_dir, tmp_path / "qwen2.f16.gguf")
    assert out.architecture == "qwen2" and out.n_tensors == 2 * 12 + 3  # 9 weights + 3 biases per layer
    report = verify_export(model_dir, out.path, None, "f16")
    assert report.passed, report.reasons
    assert report.f16["rel_diff"] < 0.02 and report.f16["greedy_match"]


def test_cli_export_bad_quant_is_one_line_error(workspace, adapter_version):
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    result = CliRunner().invoke(app, ["--home", str(workspace.root), "export", adapter_version, "--quant", "q9", "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: quant 'q9': unknown; valid:") and result.stderr.count("\n") == 1
