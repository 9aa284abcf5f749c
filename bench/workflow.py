"""Benchmark: workflow executor vs a plain selector loop, 10 attributes × N local HTML pages.

Generates N product pages (default 2,000) in a temp folder, builds a workflow with a
file service, one data stream (SQLite destination, two transformations) and 10
attributes with validation rules, and measures pages/s of ``run_workflow``. The
baseline, measured in the same run over the same files, is a plain Python loop that
reads each file, parses it with the same parser (selectolax/lexbor) and runs the same
10 selectors. Overhead = executor time / baseline time (target ≤ 1.3×). The two sides
alternate, N times each: ``overhead_x`` is best-of-N over best-of-N, and
``overhead_x_median_paired`` the median of each executor run over the baseline run just
before it, which the target is judged on (this machine's speed drifts by tens of percent
within seconds, and a lucky minimum on either side moves the first figure by ±0.15).

    nice -n 10 .venv/bin/python bench/workflow.py            # 2,000 pages
    nice -n 10 .venv/bin/python bench/workflow.py --quick    # 400 pages
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (name, type, selector, validation)
ATTRIBUTES = [
    ("title", "string", "title", {"required": True, "maxLength": 120}),
    ("description", "string", "meta[name=description]@content", {"maxLength": 300}),
    ("heading", "string", "h1", {"required": True}),
    ("subheadings", "array", "h2", {"maxLength": 20}),
    ("price", "number", "span.price", {"min": 0}),
    ("sku", "string", "[itemprop=sku]", {"pattern": "^SKU-\\d+$"}),
    ("canonical", "string", "link[rel=canonical]@href", {}),
    ("image", "string", "meta[property='og:image']@content", {}),
    ("breadcrumbs", "array", "nav.breadcrumbs a", {}),
    ("in_stock", "boolean", "#stock", {}),
]
TRANSFORMATIONS = [
    {"op": "cast", "to": "number", "attribute": "price"},
    {"op": "cast", "to": "boolean", "attribute": "in_stock"},
]


def make_page(n: int, rng: random.Random) -> str:
    """One product page (~6 KB) with every attribute present and some filler markup."""
    filler = "".join(f"<p>Paragraph {i} about product {n}: {'lorem ipsum dolor sit amet ' * rng.randint(3, 8)}</p>"
                     for i in range(12))
    related = "".join(f'<li><a href="/p/{rng.randint(1, 9999)}">Related {i}</a></li>' for i in range(10))
    return f"""<!doctype html><html><head><title>Product {n} – Shop</title>
<meta name="description" content="Everything about product {n}.">
<link rel="canonical" href="https://shop.example/p/{n}">
<meta property="og:image" content="https://shop.example/img/{n}.jpg"></head>
<body><nav class="breadcrumbs"><a href="/">Home</a><a href="/c/{n % 17}">Category {n % 17}</a></nav>
<main><h1>Product {n}</h1><span class="price">{rng.randint(100, 99999) / 100:.2f}</span>
<span itemprop="sku">SKU-{n:06d}</span><span id="stock">{"true" if n % 3 else "false"}</span>
<h2>Description</h2>{filler}<h2>Specifications</h2><table><tr><td>Weight</td><td>{n % 50} kg</td></tr></table>
<h2>Related</h2><ul>{related}</ul></main></body></html>"""


def generate(folder: Path, pages: int) -> list[Path]:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(pages):
        path = folder / f"page{n:05d}.html"
        path.write_text(make_page(n, rng), encoding="utf-8")
        paths.append(path)
    return paths


def plain_loop(paths: list[Path]) -> tuple[float, int]:
    """Baseline: read, parse, the same 10 selectors; no DB, no validation, no writes."""
    plan = []
    for _name, kind, selector, _rules in ATTRIBUTES:
        css, _, attr = selector.partition("@")
        plan.append((css, attr or None, kind == "array"))
    started = time.perf_counter()
    found = 0
    for path in paths:
        tree = LexborHTMLParser(path.read_bytes())
        for css, attr, many in plan:
            if many:
                nodes = tree.css(css)
                values = [n.attributes.get(attr) if attr else n.text(separator=" ", strip=True) for n in nodes]
                found += bool(values)
            else:
                node = tree.css_first(css)
                if node is not None:
                    value = node.attributes.get(attr) if attr else node.text(separator=" ", strip=True)
                    found += value is not None
    return time.perf_counter() - started, found


def build_workflow(ws, pages_dir: Path) -> tuple[int, int]:  # noqa: ANN001 - Workspace
    from lightdom_tui.orchestration import tree

    with ws.session() as s:
        campaign = tree.create_campaign(s, f"bench-{time.time_ns()}")
        workflow = tree.create_workflow(s, campaign.id, "bench", concurrency=4)
        service = tree.create_service(s, workflow.id, "pages", type="file", config={"paths": [str(pages_dir / "*.html")]})
        stream = tree.create_datastream(s, service.id, f"products_{workflow.id}", transformations=TRANSFORMATIONS)
        for name, kind, selector, rules in ATTRIBUTES:
            tree.create_attribute(s, stream.id, name, type=kind, selector=selector, validation=rules)
        return workflow.id, stream.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="400 pages")
    parser.add_argument("--repeats", type=int, default=21, help="best of N for both sides (interleaved)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "workflow.json")
    args = parser.parse_args()
    pages = 400 if args.quick else args.pages

    from lightdom_tui.orchestration.executor import run_workflow
    from lightdom_tui.workspace import create_workspace

    with tempfile.TemporaryDirectory(prefix="lightdom-bench-") as tmp:
        tmp_path = Path(tmp)
        paths = generate(tmp_path / "pages", pages)
        ws = create_workspace(tmp_path / "ws")
        ws.settings.orchestration.allowed_paths = [str(tmp_path)]  # the pages live beside the workspace
        ws.save_settings()
        plain_loop(paths)  # warm the page cache and the parser
        baseline_times, executor_times, runs = [], [], []
        for _ in range(args.repeats):
            seconds, found = plain_loop(paths)
            baseline_times.append(seconds)
            workflow_id, _stream_id = build_workflow(ws, tmp_path / "pages")
            started = time.perf_counter()
            result = run_workflow(ws, workflow_id)
            executor_times.append(time.perf_counter() - started)
            runs.append(result.metrics)
        # the per-run fixed cost (plan, claim, destination table, final metrics) on an empty service
        (tmp_path / "empty").mkdir()
        fixed_times = []
        for _ in range(3):
            workflow_id, _stream_id = build_workflow(ws, tmp_path / "empty")
            started = time.perf_counter()
            run_workflow(ws, workflow_id)
            fixed_times.append(time.perf_counter() - started)
        ws.close()

    baseline, executor, fixed = min(baseline_times), min(executor_times), min(fixed_times)
    metrics = runs[executor_times.index(executor)]
    report = {
        "benchmark": "workflow",
        "pages": pages,
        "attributes": len(ATTRIBUTES),
        "executor": {"seconds": round(executor, 3), "pages_per_s": round(pages / executor, 1),
                     "rows": metrics["rows"], "invalid_values": metrics["invalid_values"],
                     "success_rate": metrics["success_rate"], "all_seconds": [round(t, 3) for t in executor_times]},
        "baseline_plain_loop": {"seconds": round(baseline, 3), "pages_per_s": round(pages / baseline, 1),
                                "values_found": found, "all_seconds": [round(t, 3) for t in baseline_times]},
        "overhead_x": round(executor / baseline, 3),
        # this machine's speed swings ±40 % from one second to the next: the median of the
        # paired ratios (each run against the baseline just before it) is the steadier figure
        "overhead_x_median_paired": round(statistics.median(e / b for e, b in zip(executor_times, baseline_times)), 3),
        "fixed_cost_per_run_s": round(fixed, 3),
        "overhead_x_per_page": round((executor - fixed) / baseline, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "target_overhead_x": 1.3,
        # judged on the paired median: on this machine the ratio of the two minimums swung from
        # 1.09 to 1.38 between two runs of the same code, the paired median by less than 0.1
        "meets_target": statistics.median(e / b for e, b in zip(executor_times, baseline_times)) <= 1.3,
        "executor_includes": "file read, parse, extract, 2 transformations, 10 validators, SQLite writes, run logs and metrics",
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
