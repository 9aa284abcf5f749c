"""Held-out evaluation through the product's own path: registry.evaluation.evaluate.

Registers each GGUF in a scratch workspace and evaluates it on the held-out references
(every Nth topic with --every), so decoding is exactly what serving does
(serving.attributes.request_schema(count), repeat penalty, retry on 'length').

Usage: python experiments/eval_registry.py NAME=PATH.gguf ... [--every 3] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCES = ROOT / "lightdom_tui" / "data" / "attributes" / "heldout_references.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", help="NAME=PATH.gguf")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--home")
    ap.add_argument("--out")
    args = ap.parse_args()
    from lightdom_tui.bootstrap import init_workspace
    from lightdom_tui.registry.evaluation import evaluate
    from lightdom_tui.registry.versions import find_version, register_version
    from lightdom_tui.workspace import open_workspace

    home = Path(args.home or tempfile.mkdtemp(prefix="lt9-eval-", dir="/tmp/lt9"))
    init_workspace(home)
    (home / "lightdom.toml").write_text(f"[serving]\nn_threads = {args.threads}\ncache = false\n")
    ws = open_workspace(home)
    lines = [line for line in REFERENCES.read_text().splitlines() if line.strip()][:: args.every]
    refs = home / "heldout-subset.jsonl"
    refs.write_text("\n".join(lines) + "\n")
    results = {}
    for spec in args.models:
        name, path = spec.split("=", 1)
        with ws.session() as session:
            if find_version(session, name) is None:
                register_version(session, version=name, kind="gguf", format="gguf", path=Path(path), architecture="llama")
        result = evaluate(ws, name, references=refs)
        results[name] = {"n": result.n, "metrics": result.metrics,
                         "items": [{k: i[k] for k in ("topic", "predicted", "f1", "latency_ms")} for i in result.items]}
        m = result.metrics
        print(json.dumps({"model": name, "n": result.n, "f1": m["f1"], "macro_f1": m["macro_f1"],
                          "json_validity": m["json_validity"], "duplicate_name_rate": m["duplicate_name_rate"],
                          "latency_p50_ms": m["latency_p50_ms"], "latency_p95_ms": m["latency_p95_ms"]}), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
