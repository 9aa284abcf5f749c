"""Held-out name F1 of a GGUF model through llama.cpp with the attribute JSON-schema grammar.

Usage: python experiments/eval_heldout.py MODEL.gguf [--limit N] [--max-tokens 384] [--out FILE]
Prints one JSON summary line (validity, macro name F1, duplicates, latency p50/p95).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightdom_tui.prompts import normalise_name, render_attribute_messages, validate_attribute_answer  # noqa: E402

REFERENCES = ROOT / "lightdom_tui" / "data" / "attributes" / "heldout_references.jsonl"


def name_f1(predicted: list[str], reference: list[str]) -> float:
    """F1 between the sets of normalised predicted and reference names."""
    pred = {normalise_name(n) for n in predicted}
    ref = {normalise_name(n) for n in reference}
    hits = len(pred & ref)
    if not pred or not ref or not hits:
        return 0.0
    precision, recall = hits / len(pred), hits / len(ref)
    return 2 * precision * recall / (precision + recall)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--count", type=int, default=0, help="0 = as many as the reference has (as registry.evaluation asks)")
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--repeat-penalty", type=float, default=1.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exact-count", action="store_true", help="grammar forces exactly count items (minItems = maxItems)")
    parser.add_argument("--every", type=int, default=1, help="every Nth held-out topic (a spread subset)")
    parser.add_argument("--out")
    args = parser.parse_args()
    from llama_cpp import Llama

    refs = [json.loads(line) for line in REFERENCES.read_text().splitlines() if line.strip()]
    refs = refs[:: args.every]
    if args.limit:
        refs = refs[: args.limit]
    llm = Llama(model_path=args.model, n_ctx=1024, n_threads=args.threads, verbose=False, seed=0)
    rows = []
    for ref in refs:
        count = args.count or len(ref["reference"])
        messages = render_attribute_messages(ref["topic"], count)
        from lightdom_tui.serving.attributes import request_schema  # serving's request shape (maxItems = count)

        schema = request_schema(count)
        if args.exact_count:
            schema["properties"]["attributes"]["minItems"] = count
        start = time.perf_counter()
        out = llm.create_chat_completion(
            messages, response_format={"type": "json_object", "schema": schema},
            temperature=0.0, max_tokens=args.max_tokens, repeat_penalty=args.repeat_penalty,
        )
        latency = time.perf_counter() - start
        choice = out["choices"][0]
        text = choice["message"]["content"] or ""
        check = validate_attribute_answer(text)
        names = [a["name"] for a in check.attributes]
        raw_names = []
        try:
            raw_names = [a.get("name") for a in json.loads(text).get("attributes", []) if isinstance(a, dict)]
        except Exception:
            pass
        valid = check.json_valid and choice["finish_reason"] != "length"
        rows.append({
            "topic": ref["topic"], "valid": valid, "finish": choice["finish_reason"], "names": names,
            "f1": name_f1(names, ref["reference"]) if valid else 0.0,
            "duplicates": len(raw_names) - len(set(raw_names)), "latency_s": round(latency, 3),
        })
        print(f"{len(rows)}/{len(refs)} {ref['topic']}: f1 {rows[-1]['f1']:.2f} {latency:.1f}s {names}", file=sys.stderr, flush=True)
    lat = sorted(r["latency_s"] for r in rows)
    summary = {
        "model": args.model, "topics": len(rows),
        "json_valid": sum(r["valid"] for r in rows) / len(rows),
        "name_f1": round(statistics.mean(r["f1"] for r in rows), 4),
        "duplicates": sum(r["duplicates"] for r in rows),
        "truncated": sum(r["finish"] == "length" for r in rows),
        "latency_p50_s": lat[len(lat) // 2], "latency_p95_s": lat[min(len(lat) - 1, int(len(lat) * 0.95))],
    }
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
