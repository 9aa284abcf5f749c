"""Benchmark: peak memory and time of `lightdom export` at model sizes users run.

Builds synthetic random Llama models (bf16 safetensors, SmolLM2's tokenizer and chat
template, untied embeddings) of about 0.1B, 0.5B and 1.5B parameters, each with a
rank-16 LoRA adapter on every projection, and exports each to q4_k_m twice in the
same run, every export in its own subprocess:

- today: the code at ``--baseline-rev`` (default: the commit before the streamed
  export), unpacked from git into a temp folder: whole-model float32 merge with peft,
  merged HF folder, GGUF writer holding every tensor, transformers float32 verification;
- streamed: this tree: merge applied tensor by tensor inside the GGUF writer,
  llama.cpp quantization, layer-by-layer float32 reference verification.

Per export: peak RSS (the child's ``ru_maxrss`` from ``wait4``), the peak of its
anonymous memory (``RssAnon`` sampled every 20 ms: file pages that llama.cpp maps
are page cache the kernel can drop), the peak of each stage (``VmHWM`` reset through
``/proc/self/clear_refs`` between stages), wall time per stage, and the verification
verdict. An ``imports`` child (the same stack imported, nothing run) gives the fixed
cost every export starts from. A deeper twin of the smallest model (same widths,
twice the layers) shows whether the streamed peak grows with depth.

Writes bench/results/export_scale.json. Run (needs ~11 bytes/param free for today's
path; sizes whose today's run would not fit in MemAvailable are recorded as skipped):
``nice -n 10 .venv/bin/python bench/export_scale.py [--sizes 0.1B,0.5B,1.5B]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINE_REV = "a0dddf6"  # last commit with the whole-model export
VOCAB = 49152  # SmolLM2's tokenizer
SIZES: dict[str, dict[str, int]] = {
    "0.1B": {"hidden": 768, "intermediate": 2048, "layers": 8, "heads": 12, "kv_heads": 4},
    "0.1B-deep": {"hidden": 768, "intermediate": 2048, "layers": 16, "heads": 12, "kv_heads": 4},
    "0.5B": {"hidden": 1024, "intermediate": 2816, "layers": 32, "heads": 16, "kv_heads": 4},
    "1.5B": {"hidden": 1536, "intermediate": 8960, "layers": 28, "heads": 12, "kv_heads": 2},
}
LORA_RANK, LORA_ALPHA = 16, 32
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TODAY_BYTES_PER_PARAM = 8  # measured 7.5 above the stack's imports at 0.1B; the guard adds 2 GiB


# ---------------------------------------------------------------- model building

def tensor_specs(size: dict[str, int]) -> list[tuple[str, tuple[int, ...]]]:
    """HF names and shapes of the synthetic Llama's tensors."""
    h, i, kv = size["hidden"], size["intermediate"], size["kv_heads"] * (size["hidden"] // size["heads"])
    specs: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (VOCAB, h))]
    for n in range(size["layers"]):
        p = f"model.layers.{n}."
        specs += [
            (p + "self_attn.q_proj.weight", (h, h)), (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)), (p + "self_attn.o_proj.weight", (h, h)),
            (p + "mlp.gate_proj.weight", (i, h)), (p + "mlp.up_proj.weight", (i, h)),
            (p + "mlp.down_proj.weight", (h, i)),
            (p + "input_layernorm.weight", (h,)), (p + "post_attention_layernorm.weight", (h,)),
        ]
    specs += [("model.norm.weight", (h,)), ("lm_head.weight", (VOCAB, h))]
    return specs


def build_model(out: Path, size: dict[str, int], tokenizer_dir: Path, seed: int) -> int:
    """Write a random bf16 Llama HF folder (streamed, one tensor at a time); returns its parameter count."""
    import torch
    from transformers import LlamaConfig

    from lightdom_tui.modelio.tensors import TensorSpec, write_safetensors

    out.mkdir(parents=True, exist_ok=True)
    for item in tokenizer_dir.iterdir():
        shutil.copy2(item, out / item.name)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=size["hidden"], intermediate_size=size["intermediate"],
        num_hidden_layers=size["layers"], num_attention_heads=size["heads"], num_key_value_heads=size["kv_heads"],
        max_position_embeddings=2048, tie_word_embeddings=False, rms_norm_eps=1e-5,
        bos_token_id=1, eos_token_id=2, dtype="bfloat16",
    )
    config.save_pretrained(out)
    specs = tensor_specs(size)
    generator = torch.Generator().manual_seed(seed)

    def tensors():
        for name, shape in specs:
            if len(shape) == 1:
                yield torch.ones(shape, dtype=torch.bfloat16)
            else:
                # Embeddings that dominate the residual stream, GPT-2's depth-scaled init of
                # the projections that write into it, and a sharper output layer give the
                # random model decisive next-token choices at every depth (0.02 everywhere
                # gives near-uniform ones, which no quantization check can judge).
                std = 0.05 if name == "lm_head.weight" else 1.0 if name == "model.embed_tokens.weight" else 0.02
                if name.endswith(("o_proj.weight", "down_proj.weight")):
                    std = 0.02 / (2 * size["layers"]) ** 0.5
                yield (torch.randn(shape, generator=generator) * std).to(torch.bfloat16)

    write_safetensors(out / "model.safetensors", [TensorSpec(n, "BF16", s) for n, s in specs], tensors())
    return sum(math.prod(s) for _, s in specs)


def build_adapter(out: Path, size: dict[str, int], seed: int) -> None:
    """A PEFT LoRA adapter (rank 16, every projection, float32 as peft saves it) with nonzero B."""
    import torch

    from lightdom_tui.modelio.tensors import TensorSpec, write_safetensors

    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    specs, tensors = [], []
    for name, shape in tensor_specs(size):
        module = name.removesuffix(".weight")
        if module.split(".")[-1] not in LORA_TARGETS:
            continue
        rows, cols = shape
        prefix = f"base_model.model.{module}"
        specs += [TensorSpec(prefix + ".lora_A.weight", "F32", (LORA_RANK, cols)),
                  TensorSpec(prefix + ".lora_B.weight", "F32", (rows, LORA_RANK))]
        tensors += [torch.randn((LORA_RANK, cols), generator=generator) / cols ** 0.5,
                    torch.randn((rows, LORA_RANK), generator=generator) * 0.01]
    write_safetensors(out / "adapter_model.safetensors", specs, tensors)
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": LORA_RANK, "lora_alpha": LORA_ALPHA,
        "lora_dropout": 0.0, "target_modules": list(LORA_TARGETS), "bias": "none", "use_rslora": False,
        "fan_in_fan_out": False, "base_model_name_or_path": None, "inference_mode": True,
    }))


def tokenizer_folder(out: Path) -> Path:
    """SmolLM2's tokenizer and chat template, read from the embedded GGUF."""
    from transformers import AutoTokenizer

    from lightdom_tui.modelio.embedded import embedded_gguf_path

    gguf = embedded_gguf_path()
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
    return out


# ---------------------------------------------------------------- the child side

def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def worker(args: argparse.Namespace) -> None:
    """Run one export path in this process and print its stages as one JSON line."""
    if args.worker == "today":
        sys.path.insert(0, str(args.tree))
    import lightdom_tui
    import torch  # noqa: F401  (the stack every path imports)
    import transformers  # noqa: F401
    import peft  # noqa: F401
    import llama_cpp  # noqa: F401
    import gguf  # noqa: F401
    from lightdom_tui.modelio import gguf_export, merge, quantize, verify

    result: dict[str, Any] = {"package": str(Path(lightdom_tui.__file__).parent), "stages": {}}
    out, base, adapter = Path(args.out), Path(args.base), Path(args.adapter)
    stages = result["stages"]

    def stage(name: str, fn):
        _reset_peak()
        started = time.perf_counter()
        value = fn()
        stages[name] = {"s": round(time.perf_counter() - started, 2), "peak_mb": round(_status("VmHWM") / 2**20, 1)}
        return value

    result["imports_peak_mb"] = round(_status("VmHWM") / 2**20, 1)
    if args.worker == "imports":
        print("RESULT " + json.dumps(result), flush=True)
        return
    f16, q4 = out / "model.f16.gguf", out / "model.q4_k_m.gguf"
    if args.worker == "today":
        merged = out / "merged"
        stage("merge", lambda: merge.merge_adapter(base, adapter, merged))
        stage("gguf", lambda: gguf_export.export_gguf(merged, f16, out_type="f16"))
        stage("quantize", lambda: quantize.quantize_gguf(f16, q4, "q4_k_m", n_threads=2))
        report = stage("verify", lambda: verify.verify_export(merged, f16, q4, "q4_k_m"))
    else:
        stage("merge+gguf", lambda: gguf_export.export_gguf(base, f16, out_type="f16", adapter=adapter))
        stage("quantize", lambda: quantize.quantize_gguf(f16, q4, "q4_k_m", n_threads=2))
        report = stage("verify", lambda: verify.verify_export(base, f16, q4, "q4_k_m", adapter=adapter))
    result["verification"] = {
        "passed": report.passed, "reasons": report.reasons,
        "f16_rel_diff": report.f16.get("rel_diff"), "f16_greedy_match": report.f16.get("greedy_match"),
        "f16_top1_agreement": report.f16.get("top1_agreement"), "method": report.f16.get("method", "whole model, float32"),
        "q4_k_m_agreement": report.quant.get("agreement"), "q4_k_m_perplexity_delta": report.quant.get("perplexity_delta"),
    }
    import llama_cpp as lc

    llm = lc.Llama(str(q4), n_ctx=64, verbose=False, n_threads=2)
    result["q4_k_m_loads"] = bool(llm.create_completion("The", max_tokens=2, temperature=0)["choices"])
    llm.close()
    result["q4_k_m_bytes"] = q4.stat().st_size
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- the parent side

def run_child(mode: str, base: Path, adapter: Path, out: Path, tree: Path) -> dict[str, Any]:
    """One export in a subprocess; its peak RSS (wait4) and sampled anonymous-memory peak."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--base", str(base),
           "--adapter", str(adapter), "--out", str(out), "--tree", str(tree)]
    env = {**os.environ, "PYTHONPATH": str(tree) if mode == "today" else str(ROOT)}
    started = time.perf_counter()
    log_out, log_err = open(out / "stdout.txt", "w+"), open(out / "stderr.txt", "w+")
    proc = subprocess.Popen(cmd, stdout=log_out, stderr=log_err, env=env, cwd=str(out))
    anon_peak, done = [0], threading.Event()

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        anon_peak[0] = max(anon_peak[0], int(line.split()[1]) * 1024)
            except OSError:
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4, not Popen.wait: the child's rusage carries its peak RSS (ru_maxrss, KiB).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    wall = time.perf_counter() - started
    sampler.join()
    log_out.seek(0), log_err.seek(0)
    stdout, stderr = log_out.read(), log_err.read()
    log_out.close(), log_err.close()
    line = next((l for l in stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        tail = stderr.strip().splitlines()[-3:] if stderr.strip() else []
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    data = json.loads(line[len("RESULT "):])
    data.update({"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                 "peak_anon_mb_sampled": round(anon_peak[0] / 2**20, 1)})
    return data


def mem_available() -> int:
    """MemAvailable in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.1B,0.1B-deep,0.5B,1.5B")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "export_scale.json")
    parser.add_argument("--append", action="store_true",
                        help="keep the sizes already in --out (each size's two paths still run together)")
    parser.add_argument("--worker", choices=("today", "streamed", "imports"))
    parser.add_argument("--base"), parser.add_argument("--adapter"), parser.add_argument("--tree")
    args = parser.parse_args()
    if args.worker:
        if args.worker != "today":
            sys.path.insert(0, str(ROOT))
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    work = Path(args.work or tempfile.mkdtemp(prefix="export-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "baseline-tree"
    if not (tree / "lightdom_tui").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_rev, "lightdom_tui"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    tokenizer = tokenizer_folder(work / "tokenizer") if not (work / "tokenizer").is_dir() else work / "tokenizer"
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "mem_available_gb_at_start": round(mem_available() / 2**30, 1)},
        "baseline": f"git {args.baseline_rev} (whole-model float32 merge + in-memory GGUF writer + float32 verify)",
        "quant": "q4_k_m",
        "lora": {"rank": LORA_RANK, "alpha": LORA_ALPHA, "targets": list(LORA_TARGETS)},
        "imports": run_child("imports", work, work, work / "imports", tree),
        "sizes": {},
    }
    if args.append and args.out.is_file():
        results["sizes"] = json.loads(args.out.read_text()).get("sizes", {})
    print(f"imports: {results['imports'].get('peak_rss_mb')} MB", flush=True)
    for label in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        size = SIZES[label]
        folder = work / label
        base, adapter = folder / "base", folder / "adapter"
        if not (base / "model.safetensors").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            started = time.perf_counter()
            params = build_model(base, size, tokenizer, seed=len(label))
            build_adapter(adapter, size, seed=7)
            print(f"{label}: built {params / 1e9:.3f}B params in {time.perf_counter() - started:.0f}s", flush=True)
        specs = tensor_specs(size)
        params = sum(math.prod(s) for _, s in specs)
        largest = max(math.prod(s) for _, s in specs)
        from lightdom_tui.modelio.memory import estimate_export_memory

        estimate = estimate_export_memory(base)
        entry: dict[str, Any] = {
            **size, "vocab": VOCAB, "params": params, "float32_mb": round(params * 4 / 2**20, 1),
            "largest_tensor_params": largest, "largest_tensor_float32_mb": round(largest * 4 / 2**20, 1),
            "doctor_estimate_mb": round(estimate.peak_bytes / 2**20, 1),
            "run_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "mem_available_gb": round(mem_available() / 2**30, 1),
        }
        entry["streamed"] = run_child("streamed", base, adapter, folder / "streamed", tree)
        print(f"{label} streamed: {json.dumps(entry['streamed'])[:400]}", flush=True)
        shutil.rmtree(folder / "streamed", ignore_errors=True)
        need = params * TODAY_BYTES_PER_PARAM + 2 * 2**30
        if label.endswith("-deep"):
            entry["today"] = {"skipped": "depth twin: streamed path only"}
        elif mem_available() < need:
            entry["today"] = {"skipped": f"needs ~{need / 2**30:.1f} GiB, MemAvailable {mem_available() / 2**30:.1f} GiB"}
        else:
            entry["today"] = run_child("today", base, adapter, folder / "today", tree)
        print(f"{label} today: {json.dumps(entry['today'])[:400]}", flush=True)
        shutil.rmtree(folder / "today", ignore_errors=True)
        streamed = entry["streamed"]
        if "peak_rss_mb" in streamed:
            imports = results["imports"].get("peak_rss_mb", 0.0)
            entry["streamed_above_imports_mb"] = round(streamed["peak_rss_mb"] - imports, 1)
            entry["streamed_anon_above_imports_mb"] = round(streamed["peak_anon_mb_sampled"] - imports, 1)
            entry["streamed_s_per_bparam"] = round(streamed["wall_s"] / (params / 1e9), 1)
            entry["streamed_anon_within_doctor_estimate"] = streamed["peak_anon_mb_sampled"] <= entry["doctor_estimate_mb"]
        if "peak_rss_mb" in entry["today"]:
            entry["today_bytes_per_param"] = round(entry["today"]["peak_rss_mb"] * 2**20 / params, 2)
        results["sizes"][label] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
