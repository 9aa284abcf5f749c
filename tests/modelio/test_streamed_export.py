"""The streamed merge + export: same weights as peft's merge, bounded memory, GGUF bases.

Real peft, real gguf-py, real llama.cpp; the memory test runs the export in a child
process and reads the kernel's peak RSS for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _gguf_tensors(path: Path) -> dict[str, np.ndarray]:
    from gguf import GGUFReader

    return {t.name: np.array(t.data) for t in GGUFReader(str(path)).tensors}


def test_streamed_merge_equals_peft_and_the_gguf_equals_one_from_the_merged_folder(
    tmp_path, tiny_model_dir, tiny_adapter_dir
):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.merge import merge_adapter

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    expected = PeftModel.from_pretrained(base, str(tiny_adapter_dir)).merge_and_unload().state_dict()
    merged = merge_adapter(tiny_model_dir, tiny_adapter_dir, tmp_path / "merged")
    ours = load_file(str(merged.path / "model.safetensors"))
    assert set(ours) == set(load_file(str(tiny_model_dir / "model.safetensors")))
    changed = 0
    for name, tensor in ours.items():
        assert torch.allclose(tensor, expected[name], atol=1e-6), name
        changed += int("q_proj" in name or "up_proj" in name)
    assert changed == 4  # both layers' q_proj and up_proj went through the delta
    assert (merged.path / "tokenizer.json").is_file() and (merged.path / "config.json").is_file()

    direct = export_gguf(tiny_model_dir, tmp_path / "direct.gguf", adapter=tiny_adapter_dir)
    via_folder = export_gguf(merged.path, tmp_path / "via-folder.gguf")
    assert direct.n_tensors == via_folder.n_tensors
    a, b = _gguf_tensors(direct.path), _gguf_tensors(via_folder.path)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


RSS_CHILD = textwrap.dedent('''
    import gc, json, math, sys
    from pathlib import Path
    import numpy as np
    import torch
    import gguf, tokenizers
    import transformers.models.llama.modeling_llama  # imported before measuring: a fixed cost
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    from transformers import LlamaConfig, PreTrainedTokenizerFast
    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.reference import reference_logits
    from lightdom_tui.modelio.tensors import TensorSpec, write_safetensors

    work = Path(sys.argv[1])
    hidden, inter, heads, kv = 512, 1536, 8, 4
    # A small byte-level BPE vocabulary, so the layers (not one embedding) hold the weights.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["the attributes of a blog post are a title and an author"] * 50,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    vocab, kv_dim = 320, kv * hidden // heads
    gen = torch.Generator().manual_seed(0)


    def build(folder, layers):
        """A random bf16 Llama + a LoRA adapter on q/v/down, written one tensor at a time; its parameter count."""
        base, adapter = folder / "base", folder / "adapter"
        PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>").save_pretrained(base)
        LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                    num_attention_heads=heads, num_key_value_heads=kv, tie_word_embeddings=True,
                    bos_token_id=0, eos_token_id=1, dtype="bfloat16").save_pretrained(base)
        shapes = [("model.embed_tokens.weight", (vocab, hidden))]
        for i in range(layers):
            p = f"model.layers.{i}."
            shapes += [(p + "self_attn.q_proj.weight", (hidden, hidden)), (p + "self_attn.k_proj.weight", (kv_dim, hidden)),
                       (p + "self_attn.v_proj.weight", (kv_dim, hidden)), (p + "self_attn.o_proj.weight", (hidden, hidden)),
                       (p + "mlp.gate_proj.weight", (inter, hidden)), (p + "mlp.up_proj.weight", (inter, hidden)),
                       (p + "mlp.down_proj.weight", (hidden, inter)),
                       (p + "input_layernorm.weight", (hidden,)), (p + "post_attention_layernorm.weight", (hidden,))]
        shapes.append(("model.norm.weight", (hidden,)))
        write_safetensors(base / "model.safetensors", [TensorSpec(n, "BF16", s) for n, s in shapes],
                          ((torch.randn(s, generator=gen) * 0.02 if len(s) > 1 else torch.ones(s)) for _, s in shapes))
        lora = [(n[:-len(".weight")], s) for n, s in shapes if n.endswith(("q_proj.weight", "v_proj.weight", "down_proj.weight"))]
        adapter.mkdir()
        write_safetensors(adapter / "adapter_model.safetensors",
                          [TensorSpec(f"base_model.model.{m}.lora_{p}.weight", "F32", (8, s[1]) if p == "A" else (s[0], 8))
                           for m, s in lora for p in "AB"],
                          (torch.randn((8, s[1]) if p == "A" else (s[0], 8), generator=gen) * 0.05 for m, s in lora for p in "AB"))
        (adapter / "adapter_config.json").write_text(json.dumps(
            {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj", "down_proj"]}))
        return base, adapter, sum(math.prod(s) for _, s in shapes)


    def export_and_reference(base, adapter, out):
        exported = export_gguf(base, out, adapter=adapter)
        logits = reference_logits(base, [[0, 5, 9, 13, 21, 34]], adapter=adapter)
        return exported.n_tensors, bool(all(np.isfinite(l).all() for l in logits))


    # Warm-up on a one-layer model: what the stack loads on first use is a fixed cost, not the model's.
    export_and_reference(*build(work / "warm", 1)[:2], work / "warm.gguf")
    base, adapter, params = build(work / "big", 20)

    def status(key):
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key + ":"))

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now (stack warm, model on disk)
    before = status("VmRSS")
    tensors, finite = export_and_reference(base, adapter, work / "model.f16.gguf")
    print(json.dumps({"params": params, "before": before, "peak": status("VmHWM"), "tensors": tensors,
                      "finite": finite}))
''')


def test_streamed_export_and_reference_peak_rss_stays_below_half_the_float32_model(tmp_path):
    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "child.py"
    script.write_text(RSS_CHILD)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                          cwd=root, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    float32_bytes = result["params"] * 4
    growth = result["peak"] - result["before"]
    assert result["params"] > 60_000_000 and result["tensors"] == 2 + 20 * 9 and result["finite"]
    # The whole-model path needed ~10 bytes/param on top of the stack; streamed needs one tensor or layer.
    assert growth < float32_bytes / 2, f"peak grew {growth / 2**20:.0f} MiB; half the float32 model is " \
                                       f"{float32_bytes / 2**21:.0f} MiB"


def write_random_lora(folder: Path, shapes: dict[str, tuple[int, ...]], rank: int = 4, seed: int = 0) -> Path:
    """A PEFT-format LoRA adapter (nonzero A and B) on the named base tensors."""
    import torch

    from lightdom_tui.modelio.tensors import TensorSpec, write_safetensors

    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    specs, tensors = [], []
    for name, (rows, cols) in shapes.items():
        module = "base_model.model." + name.removesuffix(".weight")
        specs += [TensorSpec(module + ".lora_A.weight", "F32", (rank, cols)),
                  TensorSpec(module + ".lora_B.weight", "F32", (rows, rank))]
        tensors += [torch.randn((rank, cols), generator=gen) / cols**0.5, torch.randn((rows, rank), generator=gen) * 0.05]
    write_safetensors(folder / "adapter_model.safetensors", specs, tensors)
    modules = sorted({n.split(".")[-2] for n in shapes})
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": modules}))
    return folder


def test_export_from_the_embedded_gguf_base_merges_the_adapter_and_verifies(workspace, embedded_gguf):
    import llama_cpp
    from gguf import GGUFReader
    from sqlmodel import select

    from lightdom_tui.db.models import ModelVersion
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
    from lightdom_tui.modelio.pipeline import export_model
    from lightdom_tui.modelio.tensors import GGUFSource
    from lightdom_tui.registry.versions import register_version

    source = GGUFSource(embedded_gguf)
    targets = {n: source.specs[n].shape for n in source.names()
               if n.startswith(("model.layers.0.", "model.layers.1.")) and n.endswith(("q_proj.weight", "v_proj.weight"))}
    adapter_dir = write_random_lora(workspace.models_dir / "adapters" / "smol-lora", targets)
    with workspace.session() as session:
        base = session.exec(select(ModelVersion).where(ModelVersion.version == EMBEDDED_VERSION)).one()
        register_version(session, version="smol-lora", kind="adapter", format="peft", path=adapter_dir, parent_id=base.id)

    result = export_model(workspace, "smol-lora", quant="f16", keep_merged=False)

    assert result.verification["passed"] and result.merged_version is None and result.parent == "smol-lora"
    assert result.verification["f16"]["rel_diff"] < 0.02 and result.verification["f16"]["greedy_match"]
    assert not (workspace.models_dir / "merged").exists() or not any((workspace.models_dir / "merged").iterdir())
    ours = {t.name: t for t in GGUFReader(result.path).tensors}
    theirs = {t.name: t for t in GGUFReader(str(embedded_gguf)).tensors}
    assert ours.keys() == theirs.keys()
    # Layers 0-1 carry the delta; layer 2 is the base, dequantized and stored as f16 (same layout).
    from gguf.quants import dequantize

    def weights(t):
        return dequantize(t.data, t.tensor_type).astype(np.float32)

    assert np.abs(weights(ours["blk.0.attn_q.weight"]) - weights(theirs["blk.0.attn_q.weight"])).max() > 1e-3
    assert np.abs(weights(ours["blk.2.attn_q.weight"]) - weights(theirs["blk.2.attn_q.weight"])).max() < 1e-3
    llm = llama_cpp.Llama(result.path, verbose=False, n_ctx=256, n_threads=2)
    try:
        base_meta = llama_cpp.Llama(str(embedded_gguf), verbose=False, n_ctx=64, vocab_only=True).metadata
        for key in ("tokenizer.chat_template", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.pre"):
            assert llm.metadata[key] == base_meta[key]
        reply = llm.create_chat_completion([{"role": "user", "content": "Name a colour."}], max_tokens=8, temperature=0)
        assert reply["choices"][0]["message"]["content"].strip()
    finally:
        llm.close()


def test_cli_export_device_is_checked_before_any_work(workspace, adapter_version):
    import torch
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["--home", str(workspace.root), "export", adapter_version, "--device", "tpu"])
    assert bad.exit_code == 1 and bad.stderr == "error: device 'tpu': expected cpu or cuda\n"
    if not torch.cuda.is_available():
        missing = runner.invoke(app, ["--home", str(workspace.root), "export", adapter_version, "--device", "cuda"])
        assert missing.exit_code == 1 and "no CUDA GPU is visible" in missing.stderr
    assert not any((workspace.models_dir / "gguf").iterdir())
