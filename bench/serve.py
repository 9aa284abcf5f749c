"""Benchmark: attribute generation on the embedded SmolLM2-135M (Q4) and the export pipeline.

Measured in one run, interleaved per topic so machine load hits both sides alike:
- ours: ``serving.router.generate_attributes`` (routing, prompts, grammar, length
  retry, validation, dedupe follow-up, request log; response cache off);
- raw: llama-cpp-python ``create_chat_completion`` with the same messages, schema,
  token cap, temperature and repeat penalty, on a second ``Llama`` of the same file;
- overhead: our latency minus the time spent inside llama.cpp calls (so extra
  retries are counted as model work, not overhead), relative to that model time;
- transformers ``generate`` (greedy, same prompt, same number of new tokens as our
  first answer) on the same model dequantized from the GGUF, on a few topics;
- merge + GGUF export + q4_k_m quantize (+ verify) of a LoRA adapter on the 135M.

Writes bench/results/serve.json. Run: ``nice -n 10 .venv/bin/python bench/serve.py [--n 50] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOPICS = [
    "blog post", "product page", "weather station reading", "invoice", "job posting", "real estate listing",
    "restaurant menu item", "flight booking", "hotel review", "news article", "user profile", "bank transaction",
    "movie", "book", "music track", "podcast episode", "recipe", "car listing", "sports match", "stock quote",
    "medical appointment", "support ticket", "github repository", "pull request", "server log line",
    "e-commerce order", "shipping label", "course syllabus", "conference talk", "event ticket", "tweet",
    "email message", "calendar event", "survey response", "sensor measurement", "parking spot", "bike rental",
    "gym membership", "insurance policy", "tax return", "pet adoption profile", "museum exhibit", "wine bottle",
    "coffee shop", "hiking trail", "mobile app review", "video game", "charity donation", "energy meter reading",
    "library loan",
]
HERE = Path(__file__).resolve().parent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds."""
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "mean_ms": statistics.fmean(values) if values else float("nan")}


def make_workspace(threads: int) -> Any:
    """A fresh workspace with the embedded model, cache off, ``threads`` threads."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.workspace import create_workspace

    ws = create_workspace(Path(tempfile.mkdtemp(prefix="bench-serve-")) / "ws")
    register_embedded_model(ws)
    ws.settings.serving.n_threads = threads
    ws.settings.serving.cache = False
    ws.settings.serving.fallback = False
    return ws


def bench_generation(ws: Any, topics: list[str], count: int) -> dict[str, Any]:
    """Ours vs raw create_chat_completion, interleaved per topic."""
    import llama_cpp

    from lightdom_tui.errors import LightdomError
    from lightdom_tui.modelio.embedded import embedded_gguf_path
    from lightdom_tui.prompts import render_attribute_messages, validate_attribute_answer
    from lightdom_tui.serving.attributes import REPEAT_PENALTY, request_schema
    from lightdom_tui.serving.local import engine_pool
    from lightdom_tui.serving.router import generate_attributes

    settings = ws.settings.serving
    pool = engine_pool(ws)
    engine_time = {"s": 0.0, "calls": 0}
    original_chat = pool.chat

    def timed_chat(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_chat(*args, **kwargs)
        finally:
            engine_time["s"] += time.perf_counter() - started
            engine_time["calls"] += 1

    pool.chat = timed_chat  # type: ignore[method-assign]
    raw = llama_cpp.Llama(str(embedded_gguf_path()), n_ctx=settings.n_ctx, n_batch=settings.n_batch,
                          n_threads=settings.n_threads, verbose=False)
    schema = request_schema(count)
    generate_attributes(ws, "warm up", count=2)  # load the pool's model outside the timings
    raw.create_chat_completion(render_attribute_messages("warm up", 2), max_tokens=8)
    ours, ours_model, raw_ms, rows = [], [], [], []
    ours_ok = raw_ok = raw_length = 0
    for topic in topics:
        engine_time["s"], engine_time["calls"] = 0.0, 0
        started = time.perf_counter()
        try:
            result = generate_attributes(ws, topic, count=count)
            ok, n_attrs, calls, completion = True, len(result.attributes), result.calls, result.completion_tokens
        except LightdomError as exc:
            ok, n_attrs, calls, completion = False, 0, engine_time["calls"], 0
            print(f"  ours failed on {topic!r}: {exc}", file=sys.stderr)
        elapsed = (time.perf_counter() - started) * 1000
        ours.append(elapsed)
        ours_model.append(engine_time["s"] * 1000)
        ours_ok += ok

        messages = render_attribute_messages(topic, count)
        started = time.perf_counter()
        response = raw.create_chat_completion(
            messages, max_tokens=settings.max_tokens, temperature=settings.temperature,
            response_format={"type": "json_object", "schema": schema}, repeat_penalty=REPEAT_PENALTY,
        )
        raw_elapsed = (time.perf_counter() - started) * 1000
        raw_ms.append(raw_elapsed)
        choice = response["choices"][0]
        raw_length += choice["finish_reason"] == "length"
        raw_valid = choice["finish_reason"] != "length" and validate_attribute_answer(choice["message"]["content"]).ok
        raw_ok += raw_valid
        rows.append({"topic": topic, "ours_ms": round(elapsed, 1), "ours_model_ms": round(engine_time["s"] * 1000, 1),
                     "ours_calls": calls, "ours_ok": ok, "attributes": n_attrs, "completion_tokens": completion,
                     "raw_ms": round(raw_elapsed, 1), "raw_valid": raw_valid,
                     "raw_completion_tokens": response["usage"]["completion_tokens"]})
        print(f"  {topic:28s} ours {elapsed:7.0f} ms ({calls} call) raw {raw_elapsed:7.0f} ms", file=sys.stderr)
    raw.close()
    overhead = [o - m for o, m in zip(ours, ours_model)]
    model_total = sum(ours_model)
    return {
        "topics": len(topics),
        "count": count,
        "ours": summary(ours),
        "raw_create_chat_completion": summary(raw_ms),
        "ours_vs_raw_p50_ratio": percentile(ours, 50) / percentile(raw_ms, 50),
        "overhead": {**summary(overhead), "relative_to_model_time": sum(overhead) / model_total if model_total else None,
                     "target": 0.05},
        "ours_calls_mean": statistics.fmean(r["ours_calls"] for r in rows),
        "json_valid_pct": {"ours": 100.0 * ours_ok / len(topics), "raw": 100.0 * raw_ok / len(topics)},
        "raw_truncated_pct": 100.0 * raw_length / len(topics),
        "rows": rows,
    }


def bench_transformers(topics: list[str], count: int, new_tokens: list[int], threads: int) -> dict[str, Any]:
    """Greedy transformers generate on the dequantized 135M, same prompts and token counts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lightdom_tui.modelio.embedded import embedded_gguf_path
    from lightdom_tui.prompts import render_attribute_messages

    torch.set_num_threads(threads)
    path = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype="float32").eval()
    times, tokens = [], []
    for topic, n in zip(topics, new_tokens):
        ids = tokenizer.apply_chat_template(render_attribute_messages(topic, count), add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        n = max(n, 16)
        started = time.perf_counter()
        with torch.no_grad():
            model.generate(**ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
        times.append((time.perf_counter() - started) * 1000)
        tokens.append(n)
    return {"topics": len(times), "new_tokens": tokens, **summary(times),
            "ms_per_token": sum(times) / sum(tokens)}


def bench_export(threads: int) -> dict[str, Any]:
    """Merge a LoRA adapter into the 135M, export f16 GGUF, quantize q4_k_m, verify, register."""
    import torch
    from peft import LoraConfig, get_peft_model

    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION, embedded_gguf_path
    from lightdom_tui.modelio.merge import load_base_model
    from lightdom_tui.modelio.pipeline import export_model
    from lightdom_tui.registry.versions import get_version, register_version

    ws = make_workspace(threads)
    torch.manual_seed(0)
    model, _tokenizer = load_base_model(embedded_gguf_path())
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.01)  # a small, nonzero update, like a short fine-tune
    adapter_dir = ws.models_dir / "adapters" / "bench-lora"
    peft_model.save_pretrained(adapter_dir)
    del peft_model, model
    with ws.session() as session:
        base = get_version(session, EMBEDDED_VERSION)
        register_version(session, version="bench-lora", kind="adapter", format="peft", path=adapter_dir,
                         parent_id=base.id)
    started = time.perf_counter()
    result = export_model(ws, "bench-lora", quant="q4_k_m")
    total = time.perf_counter() - started
    t = result.timings_s
    return {
        "timings_s": {k: round(v, 2) for k, v in t.items()},
        "merge_export_quantize_s": round(t["merge_s"] + t["gguf_s"] + t["quantize_s"], 2),
        "total_with_verify_s": round(total, 2),
        "target_s": 60,
        "size_mib": round(result.size / 2**20, 1),
        "verification": {"passed": result.verification["passed"],
                         "f16_rel_diff": result.verification["f16"]["rel_diff"],
                         "greedy_match": result.verification["f16"]["greedy_match"],
                         "q4_k_m_agreement": result.verification["quant"]["agreement"],
                         "q4_k_m_perplexity_delta": result.verification["quant"]["perplexity_delta"]},
    }


def main() -> None:
    """Run the benchmark and write bench/results/serve.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="topics for the latency comparison")
    parser.add_argument("--hf-n", type=int, default=5, help="topics for transformers generate (slow)")
    parser.add_argument("--count", type=int, default=8, help="attributes per request")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10 topics, 3 for transformers")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.hf_n = 10, 3
    topics = (TOPICS * (args.n // len(TOPICS) + 1))[: args.n]
    results: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_start": os.getloadavg(), "threads": args.threads,
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        "model": "smollm2-135m-instruct (Q4_1 GGUF, embedded)",
    }
    ws = make_workspace(args.threads)
    print("generation: ours vs raw create_chat_completion", file=sys.stderr)
    results["generation"] = bench_generation(ws, topics, args.count)
    from lightdom_tui.serving.local import close_pools

    close_pools()
    hf_topics = topics[: args.hf_n]
    tokens = [r["completion_tokens"] or r["raw_completion_tokens"] for r in results["generation"]["rows"][: args.hf_n]]
    print("transformers generate", file=sys.stderr)
    hf = bench_transformers(hf_topics, args.count, tokens, args.threads)
    raw_rows = results["generation"]["rows"][: args.hf_n]
    raw_ms_per_token = sum(r["raw_ms"] for r in raw_rows) / max(1, sum(r["raw_completion_tokens"] for r in raw_rows))
    hf["slowdown_vs_llama_cpp_per_token"] = hf["ms_per_token"] / raw_ms_per_token if raw_ms_per_token else None
    results["transformers_generate"] = hf
    if not args.skip_export:
        print("export: merge + gguf + quantize + verify", file=sys.stderr)
        results["export"] = bench_export(args.threads)
    results["machine"]["load_avg_end"] = os.getloadavg()
    out = HERE / "results" / "serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    gen = results["generation"]
    print(json.dumps({k: gen[k] for k in ("ours", "raw_create_chat_completion", "overhead", "json_valid_pct")},
                     indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
