"""Benchmark: `lightdom serve` (the gateway) vs llama-cpp-python's own server, same model, one run.

Both servers run as subprocesses on 127.0.0.1 with the embedded SmolLM2-135M Q4_1,
2 threads, the same context size; requests go through the official ``openai`` client.
- concurrency 1: the same greedy requests, alternating between the servers, so
  machine load hits both alike; per-request overhead = our median latency over theirs;
- concurrency 4 and 8: a batch of requests from that many client threads, each server
  in turn, three rounds; aggregate completion tokens per second of wall time (median round);
- 50 attribute requests (the product's own job: the attribute JSON schema as a
  grammar) at concurrency 4 on each server: wall time per item.

Targets (issue 17): overhead at concurrency 1 at most 5 %; throughput at concurrency 4
at least 2x that server's. Writes bench/results/gateway.json.
Both servers run under the OpenMP wait policy of this environment: the product leaves
libgomp's default (see lightdom_tui/inference/__init__.py); OMP_WAIT_POLICY=PASSIVE
measures a crowded box's setting.
Run: ``nice -n 10 .venv/bin/python bench/gateway.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

HERE = Path(__file__).resolve().parent
THREADS = 2
ROUNDS = 3  # concurrency rounds per server; the median is reported
N_CTX = 2048
PROMPTS = [
    "Write a short story about a lighthouse keeper.", "Explain how a bicycle gear works.",
    "Describe a walk through an autumn forest.", "Write a letter to a friend about a trip to the sea.",
    "Explain why the sky is blue.", "Describe a busy market in the morning.",
    "Write a poem about trains.", "Explain how bread rises.",
]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer within {timeout:.0f} s")


def start_llama_server(gguf: Path, omp_wait_policy: str | None = None) -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's own OpenAI-compatible server (``omp_wait_policy``: its own OpenMP wait policy)."""
    port = _port()
    env = {**os.environ, "OMP_WAIT_POLICY": omp_wait_policy} if omp_wait_policy else None
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS), "--n_ctx", str(N_CTX),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    _wait(f"http://127.0.0.1:{port}/v1/models", process)
    return process, f"http://127.0.0.1:{port}/v1"


def start_gateway(parallel: int) -> tuple[subprocess.Popen, str]:
    """`lightdom serve` on a fresh workspace with the embedded model."""
    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.workspace import create_workspace

    home = Path(tempfile.mkdtemp(prefix="bench-gateway-")) / "ws"
    ws = create_workspace(home)
    register_embedded_model(ws)
    serving = ws.settings.serving
    serving.n_threads, serving.n_ctx, serving.parallel, serving.fallback = THREADS, N_CTX, parallel, False
    ws.save_settings()
    ws.close()
    port = _port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait(f"http://127.0.0.1:{port}/health", process)
    return process, f"http://127.0.0.1:{port}/v1"


def ask(base_url: str, model: str, messages: list[dict[str, Any]], max_tokens: int,
        response_format: dict[str, Any] | None = None) -> tuple[float, int, str]:
    """(seconds, completion tokens, text) of one greedy request."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
    extra: dict[str, Any] = {"response_format": response_format} if response_format else {}
    extra["extra_body"] = {"repeat_penalty": 1.0}  # that server's default is 1.1: the same request on both
    started = time.perf_counter()
    answer = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens,
                                            temperature=0, **extra)
    return time.perf_counter() - started, answer.usage.completion_tokens, answer.choices[0].message.content or ""


def concurrency_one(servers: dict[str, tuple[str, str]], n: int, max_tokens: int) -> dict[str, Any]:
    """Alternate the same requests between the servers; per-request latency and tokens/s."""
    times: dict[str, list[float]] = {name: [] for name in servers}
    tokens: dict[str, int] = {name: 0 for name in servers}
    same = 0
    for i in range(n):
        messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
        order = list(servers) if i % 2 == 0 else list(reversed(servers))
        texts = {}
        for name in order:
            url, model = servers[name]
            seconds, count, texts[name] = ask(url, model, messages, max_tokens)
            times[name].append(seconds)
            tokens[name] += count
        same += len(set(texts.values())) == 1
    result = {name: {"median_s": statistics.median(times[name]), "tokens_per_s": tokens[name] / sum(times[name]),
                     "completion_tokens": tokens[name]} for name in servers}
    result["identical_answers"] = f"{same}/{n}"
    result["overhead"] = result["gateway"]["median_s"] / result["llama_cpp_server"]["median_s"] - 1
    return result


def concurrent(url: str, model: str, clients: int, n: int, max_tokens: int,
               response_format: dict[str, Any] | None = None, prompts: list[list[dict[str, Any]]] | None = None
               ) -> dict[str, Any]:
    """``n`` requests from ``clients`` threads: wall time, aggregate tokens/s, per-item seconds."""
    batch = prompts or [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(n)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda m: ask(url, model, m, max_tokens, response_format), batch))
    wall = time.perf_counter() - started
    tokens = sum(r[1] for r in results)
    return {"requests": len(batch), "wall_s": wall, "completion_tokens": tokens, "tokens_per_s": tokens / wall,
            "per_item_s": wall / len(batch), "texts": [r[2] for r in results]}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput, with every round's tokens/s (the machine's speed drifts: 142-168
    tokens/s for the same 16 requests in four rounds back to back here)."""
    ordered = sorted(runs, key=lambda run: run["tokens_per_s"])
    chosen = {k: v for k, v in ordered[len(ordered) // 2].items() if k != "texts"}
    chosen["rounds_tokens_per_s"] = [round(run["tokens_per_s"], 1) for run in runs]
    return chosen


def server_at_its_best(gguf: Path, n1: int, n_batch: int, max_tokens: int) -> dict[str, Any]:
    """llama-cpp-python's server alone with OpenMP spinning for ever: tokens/s at concurrency 1 and 4."""
    process, url = start_llama_server(gguf, "ACTIVE")
    try:
        ask(url, "smollm2", [{"role": "user", "content": "Hi"}], 8)
        ones = [ask(url, "smollm2", [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], max_tokens)
                for i in range(n1)]
        four = median_run([concurrent(url, "smollm2", 4, n_batch, max_tokens) for _ in range(ROUNDS)])
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"c1_tokens_per_s": sum(r[1] for r in ones) / sum(r[0] for r in ones),
            "c4_tokens_per_s": four["tokens_per_s"], "c4_rounds_tokens_per_s": four["rounds_tokens_per_s"]}


def main() -> None:
    """Run every measurement and write bench/results/gateway.json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--parallel", type=int, default=4, help="serving.parallel of the gateway")
    args = parser.parse_args()
    from lightdom_tui.inference.constrained import request_schema
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION, embedded_gguf_path
    from lightdom_tui.prompts import render_attribute_messages, validate_attribute_answer

    load_at_start = os.getloadavg()[0]
    n1, n_batch, n_attr, max_tokens = (4, 8, 8, 48) if args.quick else (12, 16, 50, 96)
    gguf = embedded_gguf_path()
    theirs, their_url = start_llama_server(gguf)
    ours, our_url = start_gateway(args.parallel)
    servers = {"gateway": (our_url, EMBEDDED_VERSION), "llama_cpp_server": (their_url, "smollm2")}
    try:
        for url, model in servers.values():  # load the model and warm the caches outside the timings
            ask(url, model, [{"role": "user", "content": "Hi"}], 8)
        one = concurrency_one(servers, n1, max_tokens)
        print(f"c=1: overhead {one['overhead']:+.1%}", flush=True)
        many: dict[str, Any] = {}
        for clients in (4, 8):
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for _ in range(ROUNDS):  # alternated, so a slow spell of the machine hits both
                for name, (url, model) in servers.items():
                    rounds[name].append(concurrent(url, model, clients, n_batch, max_tokens))
            for name in servers:
                run = median_run(rounds[name])
                many.setdefault(f"c{clients}", {})[name] = run
                print(f"c={clients} {name}: {run['tokens_per_s']:.1f} tok/s (rounds {run['rounds_tokens_per_s']})",
                      flush=True)
        topics = ["blog post", "invoice", "job posting", "recipe", "support ticket", "hotel review", "movie",
                  "bank transaction", "podcast episode", "car listing"]
        attr_prompts = [render_attribute_messages(topics[i % len(topics)] + f" #{i}", 5) for i in range(n_attr)]
        schema = request_schema(5)
        attributes = {}
        for name, (url, model), fmt in (
            ("gateway", servers["gateway"],
             {"type": "json_schema", "json_schema": {"name": "attributes", "schema": schema, "strict": True}}),
            ("llama_cpp_server", servers["llama_cpp_server"], {"type": "json_object", "schema": schema}),
        ):
            run = concurrent(url, model, 4, n_attr, 384, fmt, attr_prompts)
            run["valid"] = sum(validate_attribute_answer(t).ok for t in run.pop("texts"))
            attributes[name] = run
            print(f"attributes {name}: {run['per_item_s']:.2f} s/item, {run['valid']}/{n_attr} valid", flush=True)
    finally:
        for process in (theirs, ours):
            process.terminate()
            process.wait(timeout=30)
    best = server_at_its_best(gguf, n1, n_batch, max_tokens)
    print(f"that server alone, OMP ACTIVE: c1 {best['c1_tokens_per_s']:.1f}, c4 {best['c4_tokens_per_s']:.1f} tok/s",
          flush=True)
    c4 = many["c4"]["gateway"]["tokens_per_s"] / many["c4"]["llama_cpp_server"]["tokens_per_s"]
    c4_best = many["c4"]["gateway"]["tokens_per_s"] / best["c4_tokens_per_s"]
    result = {
        "benchmark": "gateway",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": THREADS,
                    "load_1m": os.getloadavg()[0],
                    "load_1m_at_start": load_at_start,
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "default"},
        "model": EMBEDDED_VERSION, "gateway_parallel": args.parallel, "max_tokens": max_tokens,
        "concurrency_1": one, "concurrency": many, "attributes_50": attributes,
        "targets": {
            "overhead_c1_at_most_5pct": {"value": one["overhead"], "met": one["overhead"] <= 0.05},
            "throughput_c4_at_least_2x": {"value": c4, "met": c4 >= 2.0},
        },
        # That server calls llama.cpp from whichever thread of its pool serves the request: each is
        # its own OpenMP team, and with more OpenMP threads than CPUs libgomp stops spinning at the
        # barriers, which slows it at concurrency 4. Alone with OMP_WAIT_POLICY=ACTIVE (spinning for
        # ever, a core burnt while idle) it keeps its speed: the gateway's c4 against that.
        "llama_cpp_server_alone_omp_active": best,
        "throughput_c4_vs_that_server_at_its_best": c4_best,
        # Greedy answers drift apart on near ties: the gateway's context keeps llama.cpp's default
        # flash attention (auto; ~10 % faster batched here), llama-cpp-python's Llama turns it off.
        # With it off in both, the answers match token for token (checked by hand).
        "identical_answers_note": "flash attention auto (gateway) vs off (that server): near ties differ",
        "note": (
            f"tokens/s gateway: c1 {one['gateway']['tokens_per_s']:.1f}, c4 {many['c4']['gateway']['tokens_per_s']:.1f}, "
            f"c8 {many['c8']['gateway']['tokens_per_s']:.1f} (llama-cpp-python server: "
            f"{one['llama_cpp_server']['tokens_per_s']:.1f}, {many['c4']['llama_cpp_server']['tokens_per_s']:.1f}, "
            f"{many['c8']['llama_cpp_server']['tokens_per_s']:.1f}); overhead at c1 {one['overhead']:+.1%}; "
            f"c4 throughput {c4:.2f}x ({c4_best:.2f}x that server alone under OMP ACTIVE); {n_attr} attribute requests: {attributes['gateway']['per_item_s']:.2f} s/item "
            f"(server {attributes['llama_cpp_server']['per_item_s']:.2f} s/item)"
        ),
    }
    out = HERE / "results" / "gateway.json"
    if not args.quick:
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["note"])


if __name__ == "__main__":
    main()
