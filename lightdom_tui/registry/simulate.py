"""Dry-run simulation: replay real prompts through a candidate before it serves anyone.

Prompts come from what the live model already answered: attribute suggestions in
the campaign tree (grouped by request, with the human accept/reject decisions) and
logged calls (examples from ``log_call``), or from a dataset version's validation
split. The candidate answers through :mod:`registry.candidate`, which writes
nothing (no request log, cache, A/B outcome or example), and its answers go through
the same auto-rules as live curation (``curation.rules.decide``). The comparison
with the stored outputs is the safety gate before a deployment: agreement, validity,
would-be accepted/rejected names, and drift in answer length and type distribution.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import AttributeSuggestion, Example, ModelVersion
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_TASK, normalise_name, render_attribute_messages, validate_attribute_answer
from lightdom_tui.registry.candidate import generate_attributes_for, version_prompts
from lightdom_tui.registry.evaluation import topic_of
from lightdom_tui.registry.versions import get_version
from lightdom_tui.workspace import Workspace

LOG_SOURCES = ("log", "call_log")
DEFAULT_MIN_QUALITY = 0.5
SAFE_AGREEMENT = 0.3  # below this mean name agreement the candidate behaves very differently
DECISION_OF_STATUS = {"accepted": "approved", "edited": "approved", "rejected": "rejected", "approved": "approved",
                      "pending": "pending"}


@dataclass
class ReplayItem:
    """One stored prompt and what the live model answered."""

    topic: str
    live_attributes: list[dict[str, Any]]
    live_valid: bool
    live_decision: str  # approved / rejected / pending (human or rule decision on the live output)
    accepted_names: set[str] = field(default_factory=set)
    rejected_names: set[str] = field(default_factory=set)
    context: str | None = None
    origin: str = ""


@dataclass
class _Probe:
    """The candidate's answer as ``decide`` sees a fresh example (pending; confidence unknown)."""

    quality_score: float | None
    confidence: float | None = None
    status: str = "pending"
    task_type: str = ATTRIBUTE_TASK


@dataclass
class SimulationResult:
    """Summary of a replay (nothing live changed) plus per-prompt rows."""

    version: str
    source: str
    n: int
    rules: dict[str, Any]
    summary: dict[str, Any]
    verdict: str
    items: list[dict[str, Any]] = field(default_factory=list)


def _suggestion_items(session: Session, limit: int) -> list[ReplayItem]:
    """Campaign-tree suggestions grouped by the request that produced them (newest first)."""
    rows = session.exec(
        select(AttributeSuggestion).order_by(col(AttributeSuggestion.id).desc()).limit(limit * 20)
    ).all()
    groups: dict[Any, list[AttributeSuggestion]] = {}
    for row in rows:
        key = row.request_log_id if row.request_log_id is not None else (row.datastream_id, row.topic, row.model_version)
        groups.setdefault(key, []).append(row)
    items = []
    for group in list(groups.values())[:limit]:
        attrs = [{"name": r.name, "type": r.type, "description": r.description} for r in reversed(group)]
        decided = [r for r in group if r.status in ("accepted", "edited", "rejected")]
        accepted = {normalise_name(r.name) for r in decided if r.status != "rejected"}
        rejected = {normalise_name(r.name) for r in decided if r.status == "rejected"}
        decision = "pending" if not decided else ("approved" if len(accepted) >= len(rejected) else "rejected")
        check = validate_attribute_answer(json.dumps({"attributes": attrs}))
        items.append(ReplayItem(group[0].topic, attrs, check.ok, decision, accepted, rejected,
                                origin=f"suggestions of request {group[0].request_log_id}"))
    return items


def _answer(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "assistant" and isinstance(message.get("content"), str):
            return message["content"]
    return None


def _example_item(example: Example, messages: list[dict[str, Any]], origin: str) -> ReplayItem | None:
    topic = topic_of(messages, loads(example.metadata_json, {}))
    if not topic:
        return None
    check = validate_attribute_answer(_answer(messages) or "")
    return ReplayItem(topic, check.attributes, check.ok, DECISION_OF_STATUS.get(example.status, "pending"),
                      origin=origin)


def _log_items(session: Session, limit: int) -> list[ReplayItem]:
    """Logged calls (``log_call``) of the attribute task, newest first."""
    rows = session.exec(
        select(Example)
        .where(col(Example.source).in_(LOG_SOURCES), Example.task_type == ATTRIBUTE_TASK)
        .order_by(col(Example.id).desc())
        .limit(limit * 2)
    ).all()
    items = [_example_item(r, loads(r.messages_json, []), f"logged call example {r.id}") for r in rows]
    return [i for i in items if i is not None][:limit]


def _dataset_items(session: Session, dataset_ref: str, limit: int) -> list[ReplayItem]:
    from lightdom_tui.curation.datasets import dataset_rows, get_dataset  # lazy: curation service

    dataset = get_dataset(session, dataset_ref)
    items = []
    for example, messages in dataset_rows(session, dataset.id, "validation"):
        if example.task_type == ATTRIBUTE_TASK:
            item = _example_item(example, messages, f"{dataset.name}@{dataset.version} example {example.id}")
            if item is not None:
                items.append(item)
        if len(items) >= limit:
            break
    return items


def replay_items(session: Session, *, dataset: str | None = None, limit: int = 50) -> tuple[str, list[ReplayItem]]:
    """(source description, items): a dataset's validation prompts, else suggestions then logged calls."""
    if dataset is not None:
        return f"dataset {dataset} (validation)", _dataset_items(session, dataset, limit)
    items = _suggestion_items(session, limit)
    items += _log_items(session, limit - len(items)) if len(items) < limit else []
    return "live log (suggestions and logged calls)", items


def _type_distribution(attribute_lists: list[list[dict[str, Any]]]) -> dict[str, float]:
    counts = Counter(str(a.get("type")) for attrs in attribute_lists for a in attrs)
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float | None:
    """Total variation distance between two distributions (0 = same, 1 = disjoint)."""
    if not p or not q:
        return None
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 when both are empty)."""
    return len(a & b) / len(a | b) if a | b else 1.0


def simulate(
    workspace: Workspace,
    ref: str | int,
    *,
    dataset: str | None = None,
    limit: int = 50,
    rules: Any = None,
) -> SimulationResult:
    """Replay stored prompts through ``ref`` without touching live data and compare with live outputs."""
    from lightdom_tui.curation.quality import estimate_tokens, quality_score  # lazy: curation service
    from lightdom_tui.curation.rules import AutoRules, decide

    rules = rules or AutoRules(min_quality=DEFAULT_MIN_QUALITY)
    with workspace.session() as session:
        version: ModelVersion = get_version(session, ref)
        source, items = replay_items(session, dataset=dataset, limit=limit)
    if version.format != "gguf":
        raise LightdomError(
            f"model '{version.version}': simulation runs GGUF versions only (it must not touch the live router); "
            f"export it first: lightdom export {version.version}"
        )
    if not items:
        raise LightdomError(f"simulate: nothing to replay from {source}; generate some suggestions, log calls "
                            "(log_call) or pass --dataset NAME")
    prompts = version_prompts(version)
    rows: list[dict[str, Any]] = []
    agreements, candidate_attrs, live_attrs = [], [], []
    valid = live_valid = rule_agree = 0
    decisions: Counter[str] = Counter()
    accepted_hits = accepted_total = rejected_hits = rejected_total = 0
    latencies = []
    for item in items:
        generation = generate_attributes_for(workspace, version, item.topic, count=max(len(item.live_attributes), 3),
                                             context=item.context)
        latencies.append(generation.latency_ms)
        names = {normalise_name(a["name"]) for a in generation.check.attributes}
        live_names = {normalise_name(a["name"]) for a in item.live_attributes}
        agreement = jaccard(names, live_names)
        agreements.append(agreement)
        candidate_attrs.append(generation.check.attributes)
        live_attrs.append(item.live_attributes)
        valid += generation.check.ok
        live_valid += item.live_valid
        messages = render_attribute_messages(item.topic, max(len(item.live_attributes), 3), item.context, prompts)
        messages.append({"role": "assistant", "content": generation.text or ""})
        tokens = estimate_tokens(messages)
        probe = _Probe(quality_score=quality_score(messages, tokens, workspace.settings.curation.context_tokens))
        decision = decide(probe, rules) if generation.check.ok else "rejected"
        decisions[decision] += 1
        rule_agree += decision == item.live_decision
        accepted_total += len(item.accepted_names)
        accepted_hits += len(names & item.accepted_names)
        rejected_total += len(item.rejected_names)
        rejected_hits += len(names & item.rejected_names)
        rows.append({"topic": item.topic, "origin": item.origin, "agreement": agreement, "valid": generation.check.ok,
                     "decision": decision, "live_decision": item.live_decision,
                     "candidate": sorted(names), "live": sorted(live_names), "latency_ms": generation.latency_ms})
    n = len(items)
    mean_len = sum(len(a) for a in candidate_attrs) / n
    live_len = sum(len(a) for a in live_attrs) / n
    summary = {
        "agreement": sum(agreements) / n,
        "validity": valid / n,
        "live_validity": live_valid / n,
        "rule_decisions": dict(decisions),
        "rule_agreement": rule_agree / n,
        "accepted_names_kept": accepted_hits / accepted_total if accepted_total else None,
        "rejected_names_repeated": rejected_hits / rejected_total if rejected_total else None,
        "mean_attributes": mean_len,
        "live_mean_attributes": live_len,
        "length_drift": mean_len - live_len,
        "type_drift_tv": total_variation(_type_distribution(candidate_attrs), _type_distribution(live_attrs)),
        "type_distribution": _type_distribution(candidate_attrs),
        "live_type_distribution": _type_distribution(live_attrs),
        "latency_mean_ms": sum(latencies) / n,
    }
    return SimulationResult(version.version, source, n, rules.to_dict(), summary, _verdict(summary), rows)


def _verdict(summary: dict[str, Any]) -> str:
    """A one-line gate: does the candidate look safe to deploy compared with what is live?"""
    problems = []
    if summary["validity"] < summary["live_validity"]:
        problems.append(f"validity {summary['validity']:.0%} below live {summary['live_validity']:.0%}")
    if summary["agreement"] < SAFE_AGREEMENT:
        problems.append(f"name agreement {summary['agreement']:.2f} < {SAFE_AGREEMENT}")
    repeated = summary["rejected_names_repeated"]
    if repeated is not None and repeated > 0.2:
        problems.append(f"repeats {repeated:.0%} of names people rejected")
    return "review before deploying: " + "; ".join(problems) if problems else "no regressions found"
