"""Text of the registry pane's panels, from the registry services' dataclasses (formatting only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightdom_tui.safetext import markup_safe


def human_size(size: int | None) -> str:
    """Bytes as KB/MB/GB."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _metrics(metrics: dict[str, Any], limit: int = 8) -> str:
    items = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items[:limit]) or "–"


def detail_text(detail: Any) -> str:
    """Lineage, metrics, evaluations and alias history of one version (catalog.show_model)."""
    model = detail.model
    lines = [
        f"[b]{model.version}[/b]  {model.kind} · {model.format} · {model.quant or '–'} · {human_size(model.size_bytes)}",
        f"aliases: {', '.join(model.aliases) or '–'}   deployed to: {', '.join(model.deployed_to) or '–'}",
        f"sha256: {(model.sha256 or '–')[:16]}…   file: {Path(model.path).name}",
        "",
        "[b]lineage[/b] (newest first)",
    ]
    for node in detail.lineage:
        run = f" ← run #{node.run.get('id')} ({node.run.get('status')})" if node.run else ""
        dataset = f" ← dataset {node.dataset.get('name')}@{node.dataset.get('version')}" if node.dataset else ""
        lines.append(f"  {node.version} [{node.kind}{'/' + node.quant if node.quant else ''}]{run}{dataset}")
    if detail.children:
        lines.append(f"children: {', '.join(detail.children)}")
    lines += ["", f"[b]metrics[/b] {_metrics(detail.metrics)}"]
    for evaluation in detail.evaluations[:3]:
        lines.append(f"  eval #{evaluation.get('id')} n={evaluation.get('n')}: "
                     f"{_metrics(evaluation.get('metrics', {}), 5)}")
    if detail.alias_history:
        lines += ["", "[b]alias history[/b]"]
        lines += [f"  {h.get('created_at', '')[:19]} {h.get('alias')} {h.get('action')} → {h.get('version')}"
                  for h in detail.alias_history[:4]]
    return "\n".join(lines)


def ops_text(status: Any, tests: list[Any], reports: dict[int, Any], alerts: list[Any]) -> str:
    """Deployments, A/B tests (with live reports) and alerts."""
    lines = ["[b]deployments[/b]"]
    lines += [f"  {d.task_type:<22} {d.version} · stage {d.stage}" for d in status.active] or ["  none"]
    lines += ["", "[b]A/B tests[/b]"]
    if not tests:
        lines.append("  none")
    for test in tests:
        lines.append(f"  {test.name} [{test.status}] a={test.version_a} b={test.version_b} split={test.split:.2f}")
        report = reports.get(test.id)
        if report is not None:
            for arm in report.arms.values():
                rate = f"{arm.success_rate:.0%}" if arm.success_rate is not None else "–"
                lines.append(f"    {arm.arm}: n={arm.n} success={rate} p50={arm.latency_p50_ms or '–'} ms")
            lines.append(f"    → {report.recommendation} ({report.reason})")
    lines += ["", f"[b]alerts[/b] ({len(alerts)} open)"]
    lines += [f"  [red]{a.created_at:%m-%d %H:%M} {a.metric} {a.value:.3g} > {a.threshold:.3g}[/red] {markup_safe(a.message)}"
              for a in alerts[:5]] or ["  none"]
    return "\n".join(lines)


def comparison_text(comparison: Any) -> str:
    """Two versions' latest evaluations side by side."""
    lines = [f"[b]{comparison.version_a}[/b] vs [b]{comparison.version_b}[/b]"
             f"{'' if comparison.same_source else ' (different evaluation sources)'}",
             f"{'metric':<24}{'a':>12}{'b':>12}{'b − a':>12}"]
    for row in comparison.rows:
        cells = [f"{v:>12.4g}" if isinstance(v, (int, float)) else f"{'–':>12}" for v in (row.a, row.b, row.delta)]
        lines.append(f"{row.metric:<24}{''.join(cells)}")
    return "\n".join(lines)


def evaluation_text(result: Any) -> str:
    """One evaluation's headline."""
    return f"eval #{result.evaluation_id} of {result.version} on {result.source}: n={result.n} " + json.dumps(
        {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}, default=str)[:200]
