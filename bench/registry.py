"""Benchmark: the registry's per-request and rollback costs on a real workspace database.

- route:    ``registry.routing.choose_route`` per request (a running A/B test for
            another task type, a deployment for this one, a production alias), in one
            short session each, as the router does;
  baseline: the least a router could do in that session: one ``session.get`` of
            the served version by primary key.
- rollback: ``registry.deploy.rollback`` of a 4-task-type staged rollout (one
            BEGIN IMMEDIATE transaction), then redeploy, repeated;
  baseline: ``registry.aliases.promote`` (one alias row + one event) in the same kind
            of transaction.
- alias rollback with a long history: ``aliases.rollback`` after N promotes (the
  holder stack is replayed from the full history).

Writes bench/results/registry.json. ``--quick`` runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "registry.json"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 4),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 4),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 4),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a few seconds)")
    args = parser.parse_args()
    requests, rollbacks, history = (500, 30, 300) if args.quick else (5000, 200, 3000)

    from sqlmodel import select

    from lightdom_tui.bootstrap import register_embedded_model
    from lightdom_tui.db.models import ModelVersion
    from lightdom_tui.modelio.embedded import embedded_gguf_path
    from lightdom_tui.registry import ab, aliases, deploy
    from lightdom_tui.registry.routing import choose_route
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.workspace import create_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = create_workspace(Path(tmp) / "ws")
        register_embedded_model(ws)
        path = embedded_gguf_path()
        with ws.session() as s:
            for name in ("v1", "v2", "v3"):
                register_version(s, version=name, kind="gguf", format="gguf", path=path, sha256="0" * 64)
        aliases.promote(ws, "v1", "production")
        ab.create_ab_test(ws, "v1", "v2", task_types=["audio"])
        deploy.deploy(ws, "v1", None, health_check=deploy.skip_health_check)
        deploy.deploy(ws, "v2", ["graphics"], health_check=deploy.skip_health_check)

        route, base = [], []
        with ws.session() as s:
            target_id = s.exec(select(ModelVersion.id).where(ModelVersion.version == "v2")).one()
        for i in range(requests):
            started = time.perf_counter()
            with ws.session() as s:
                assert choose_route(s, "graphics", request_key=f"k{i}").version is not None
            route.append(time.perf_counter() - started)
            started = time.perf_counter()
            with ws.session() as s:
                assert s.get(ModelVersion, target_id) is not None
            base.append(time.perf_counter() - started)

        types = ["graphics", "audio", "text", "video"]
        roll, promote = [], []
        for i in range(rollbacks):
            deploy.deploy(ws, "v3", types, health_check=deploy.skip_health_check)
            started = time.perf_counter()
            deploy.rollback(ws)
            roll.append(time.perf_counter() - started)
            started = time.perf_counter()
            aliases.promote(ws, "v2" if i % 2 == 0 else "v1", "bench")
            promote.append(time.perf_counter() - started)

        for i in range(history):
            aliases.promote(ws, ("v1", "v2", "v3")[i % 3], "long")
        long_rollbacks = []
        for _ in range(5):
            started = time.perf_counter()
            aliases.rollback(ws, "long")
            long_rollbacks.append(time.perf_counter() - started)
        ws.close()

    result = {
        "benchmark": "registry",
        "quick": args.quick,
        "route": {"choose_route": _ms(route), "baseline_get_by_id": _ms(base),
                  "overhead_p50_ms": round((statistics.median(route) - statistics.median(base)) * 1000, 4)},
        "rollback": {"deploy_rollback_4_task_types": _ms(roll), "baseline_alias_promote": _ms(promote)},
        "alias_rollback_with_history": {"events": history, **_ms(long_rollbacks),
                                        "max_ms": round(max(long_rollbacks) * 1000, 3)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
