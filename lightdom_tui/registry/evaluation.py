"""Evaluation harness: score a version on references or a dataset's validation split.

Attribute generation: JSON validity, schema adherence, name precision/recall/F1
against reference names (matching documented in docs/evaluation.md), duplicate-name
rate, type agreement / plausibility, latency p50/p95, tokens/s. Tool use: tool
selection accuracy and argument exact / JSON-equal match. Results are stored as
``Evaluation`` rows; :func:`compare` lines two versions up with deltas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Evaluation, ModelVersion
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_TASK, normalise_name
from lightdom_tui.registry.candidate import AttributeGeneration, complete_json, generate_attributes_for
from lightdom_tui.registry.stats import percentile
from lightdom_tui.registry.versions import get_version
from lightdom_tui.workspace import Workspace

TOOL_TASK = "tool_use"
DEFAULT_COUNT = 8
PERPLEXITY_ITEMS = 20
TOPIC_LINE = re.compile(r"^\s*Topic:\s*(.+?)\s*$", re.MULTILINE)

# Type plausibility: name patterns whose type is near-certain (see docs/evaluation.md).
TYPE_RULES: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"^(is|has|can|should)_|_(enabled|flag|active)$"), ("boolean",)),
    (re.compile(r"(_at|_date|_on|^date|_time|timestamp)$"), ("date", "string")),
    (re.compile(r"(^|_)(count|total|price|amount|number|num|quantity|age|rating|score|width|height|size)$"),
     ("number",)),
    (re.compile(r"(^|_)(tags|items|list|ids|urls|images)$"), ("array",)),
]


@dataclass
class Reference:
    """One evaluation item: a topic and the names a good answer contains."""

    topic: str
    names: list[str]
    types: dict[str, str] = field(default_factory=dict)  # normalised name → reference type, when known
    context: str | None = None
    where: str = ""


@dataclass
class EvaluationResult:
    """A stored evaluation: metrics over all items plus per-item details."""

    evaluation_id: int
    version: str
    task_type: str
    n: int
    source: str
    metrics: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- reading references


def read_references(path: Path) -> list[Reference]:
    """Parse a JSONL file of ``{"topic", "reference": [names]}`` lines; errors name file, line, field."""
    path = Path(path)
    if not path.is_file():
        raise LightdomError(f"{path}: no such references file")
    items: list[Reference] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LightdomError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise LightdomError(f"{where}: expected an object with \"topic\" and \"reference\"")
        topic, names = data.get("topic"), data.get("reference")
        if not isinstance(topic, str) or not topic.strip():
            raise LightdomError(f"{where}: field 'topic': expected a non-empty string")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise LightdomError(f"{where}: field 'reference': expected a non-empty list of names")
        context = data.get("context")
        if context is not None and not isinstance(context, str):
            raise LightdomError(f"{where}: field 'context': expected a string")
        items.append(Reference(topic.strip(), names, context=context, where=where))
    if not items:
        raise LightdomError(f"{path}: no references in the file")
    return items


def _answer_attributes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in reversed(messages):
        if message.get("role") == "assistant" and isinstance(message.get("content"), str):
            try:
                data = json.loads(message["content"])
            except json.JSONDecodeError:
                return []
            items = data.get("attributes") if isinstance(data, dict) else None
            return [i for i in items or [] if isinstance(i, dict) and isinstance(i.get("name"), str)]
    return []


def topic_of(messages: list[dict[str, Any]], metadata: dict[str, Any]) -> str | None:
    """``metadata.topic``, else the ``Topic:`` line of the first user message."""
    if isinstance(metadata.get("topic"), str) and metadata["topic"].strip():
        return metadata["topic"].strip()
    for message in messages:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            found = TOPIC_LINE.search(message["content"])
            return found.group(1) if found else None
    return None


def dataset_references(session: Session, dataset_ref: str) -> tuple[int, list[Reference], int]:
    """(dataset id, references, skipped) from a dataset's validation attribute-generation examples."""
    from lightdom_tui.curation.datasets import dataset_rows, get_dataset  # lazy: curation service

    dataset = get_dataset(session, dataset_ref)
    items: list[Reference] = []
    skipped = 0
    for example, messages in dataset_rows(session, dataset.id, "validation"):
        if example.task_type != ATTRIBUTE_TASK:
            continue
        topic = topic_of(messages, loads(example.metadata_json, {}))
        answer = _answer_attributes(messages)
        if not topic or not answer:
            skipped += 1
            continue
        types = {normalise_name(a["name"]): str(a.get("type")) for a in answer}
        items.append(Reference(topic, [a["name"] for a in answer], types, where=f"example {example.id}"))
    return dataset.id, items, skipped


# --------------------------------------------------------------------------- scoring


def plausible_type(name: str, kind: str) -> bool | None:
    """Whether ``kind`` fits the name by the rules in ``TYPE_RULES``; None when no rule applies."""
    for pattern, allowed in TYPE_RULES:
        if pattern.search(name):
            return kind in allowed
    return None


@dataclass
class ItemScore:
    """Scores of one generated answer against its reference."""

    predicted: int
    reference: int
    matched: int
    raw_names: int
    unique_names: int
    type_matched: int
    type_checked: int
    plausible: int
    plausibility_checked: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_item(generation: AttributeGeneration, reference: Reference) -> ItemScore:
    """Match normalised unique names; count duplicates, type agreement and plausibility."""
    predicted = {normalise_name(a["name"]): a["type"] for a in generation.check.attributes}
    predicted.pop("", None)
    wanted = {normalise_name(n) for n in reference.names} - {""}
    matched = set(predicted) & wanted
    raw = [normalise_name(n) for n in generation.names]
    typed = [n for n in matched if n in reference.types]
    plausibility = [plausible_type(n, t) for n, t in predicted.items()]
    checked = [p for p in plausibility if p is not None]
    return ItemScore(
        predicted=len(predicted),
        reference=len(wanted),
        matched=len(matched),
        raw_names=len(raw),
        unique_names=len(set(raw)),
        type_matched=sum(1 for n in typed if predicted[n] == reference.types[n]),
        type_checked=len(typed),
        plausible=sum(1 for p in checked if p),
        plausibility_checked=len(checked),
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def attribute_metrics(generations: list[AttributeGeneration], scores: list[ItemScore]) -> dict[str, Any]:
    """Aggregate metrics (micro-averaged P/R/F1 over all names, plus macro F1 per item)."""
    n = len(generations)
    matched = sum(s.matched for s in scores)
    predicted = sum(s.predicted for s in scores)
    wanted = sum(s.reference for s in scores)
    precision, recall = _ratio(matched, predicted), _ratio(matched, wanted)
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    latencies = [g.latency_ms for g in generations]
    tokens = sum(g.completion_tokens for g in generations)
    seconds = sum(g.latency_ms for g in generations if g.completion_tokens) / 1000
    raw = sum(s.raw_names for s in scores)
    return {
        "json_validity": _ratio(sum(1 for g in generations if g.check.json_valid), n),
        "schema_adherence": _ratio(sum(1 for g in generations if g.check.ok), n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "macro_f1": _ratio(sum(s.f1 for s in scores), n),
        "duplicate_name_rate": _ratio(raw - sum(s.unique_names for s in scores), raw),
        "type_agreement": _ratio(sum(s.type_matched for s in scores), sum(s.type_checked for s in scores)),
        "type_plausibility": _ratio(sum(s.plausible for s in scores), sum(s.plausibility_checked for s in scores)),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "tokens_per_s": tokens / seconds if seconds else None,
        "errors": sum(1 for g in generations if g.error),
    }


# --------------------------------------------------------------------------- tool use


@dataclass
class ToolItem:
    """One tool-use evaluation item: the conversation so far and the expected call."""

    messages: list[dict[str, Any]]
    name: str
    arguments: str
    where: str = ""


def tool_items(session: Session, dataset_ref: str) -> tuple[int, list[ToolItem], int]:
    """(dataset id, items, skipped): validation tool-use examples cut before their first tool call."""
    from lightdom_tui.curation.datasets import dataset_rows, get_dataset  # lazy: curation service

    dataset = get_dataset(session, dataset_ref)
    items: list[ToolItem] = []
    skipped = 0
    for example, messages in dataset_rows(session, dataset.id, "validation"):
        if example.task_type != TOOL_TASK:
            continue
        for index, message in enumerate(messages):
            calls = message.get("tool_calls") if message.get("role") == "assistant" else None
            if calls:
                function = calls[0].get("function") or {}
                items.append(ToolItem(messages[:index], str(function.get("name")),
                                      str(function.get("arguments") or "{}"), f"example {example.id}"))
                break
        else:
            skipped += 1
    return dataset.id, items, skipped


def canonical_arguments(value: Any, *, sort_keys: bool) -> str | None:
    """Compact JSON text of tool arguments (a JSON string is parsed first); None when not JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"))


def tool_schema(names: list[str]) -> dict[str, Any]:
    """JSON schema of a tool call: one of the known tool names and an arguments object."""
    return {
        "type": "object",
        "properties": {"name": {"type": "string", "enum": sorted(set(names))}, "arguments": {"type": "object"}},
        "required": ["name", "arguments"],
    }


TOOL_INSTRUCTION = 'Reply with JSON only: {"name": <tool name>, "arguments": {<arguments>}}.'


def evaluate_tool_use(workspace: Workspace, version: ModelVersion, items: list[ToolItem]) -> tuple[
    dict[str, Any], list[dict[str, Any]]
]:
    """Tool-selection accuracy and argument exact (same keys in the same order) / JSON-equal match."""
    if version.format != "gguf":
        raise LightdomError(f"model '{version.version}': tool-use evaluation needs a GGUF version (export it first)")
    schema = tool_schema([i.name for i in items])
    selected = exact = equal = valid = 0
    latencies: list[float] = []
    details: list[dict[str, Any]] = []
    for item in items:
        messages = [dict(m) for m in item.messages]
        if messages and messages[0].get("role") == "system":
            messages[0]["content"] = f"{messages[0].get('content') or ''}\n{TOOL_INSTRUCTION}"
        else:
            messages.insert(0, {"role": "system", "content": TOOL_INSTRUCTION})
        completion = complete_json(workspace, version, messages, schema)
        latencies.append(completion.latency_ms)
        try:
            call = json.loads(completion.text or "")
        except json.JSONDecodeError:
            call = None
        ok_json = isinstance(call, dict)
        valid += ok_json
        name_ok = ok_json and call.get("name") == item.name
        predicted = call.get("arguments") if ok_json else None
        is_exact = name_ok and canonical_arguments(predicted, sort_keys=False) == canonical_arguments(
            item.arguments, sort_keys=False)
        is_equal = name_ok and predicted is not None and canonical_arguments(predicted, sort_keys=True) == (
            canonical_arguments(item.arguments, sort_keys=True))
        selected += name_ok
        exact += is_exact
        equal += is_equal
        details.append({"where": item.where, "expected": item.name, "predicted": call.get("name") if ok_json else None,
                        "arguments_exact": is_exact, "arguments_json_equal": is_equal,
                        "latency_ms": completion.latency_ms, "error": completion.error})
    n = len(items)
    metrics = {
        "json_validity": _ratio(valid, n),
        "tool_selection_accuracy": _ratio(selected, n),
        "arguments_exact_match": _ratio(exact, n),
        "arguments_json_equal": _ratio(equal, n),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    return metrics, details


# --------------------------------------------------------------------------- evaluate and compare


def evaluate(
    workspace: Workspace,
    ref: str | int,
    *,
    dataset: str | None = None,
    references: Path | str | None = None,
    task_type: str = ATTRIBUTE_TASK,
    limit: int | None = None,
    perplexity_items: int = PERPLEXITY_ITEMS,
) -> EvaluationResult:
    """Evaluate ``ref`` on a references file or a dataset's validation split and store the result.

    On a dataset, GGUF versions also get ``eval_loss``/``perplexity`` over up to
    ``perplexity_items`` validation answers (0 turns it off).
    """
    if (dataset is None) == (references is None):
        raise LightdomError("eval: give exactly one of --references FILE or --dataset NAME")
    if task_type not in (ATTRIBUTE_TASK, TOOL_TASK):
        raise LightdomError(f"--task-type {task_type}: expected {ATTRIBUTE_TASK} or {TOOL_TASK}")
    if task_type == TOOL_TASK and dataset is None:
        raise LightdomError("eval --task-type tool_use: needs --dataset (tool calls live in examples)")
    with workspace.session() as session:
        version = get_version(session, ref)
        dataset_id, skipped = None, 0
        if task_type == TOOL_TASK:
            dataset_id, tools, skipped = tool_items(session, dataset)
        elif dataset is not None:
            dataset_id, refs, skipped = dataset_references(session, dataset)
    if references is not None:
        refs = read_references(Path(references))
    source = f"dataset {dataset}" if dataset is not None else f"references {references}"
    if task_type == TOOL_TASK:
        tools = tools[:limit] if limit else tools
        if not tools:
            raise LightdomError(f"{source}: no tool-use examples with a tool call in the validation split")
        metrics, items = evaluate_tool_use(workspace, version, tools)
        n = len(tools)
    else:
        refs = refs[:limit] if limit else refs
        if not refs:
            raise LightdomError(f"{source}: no attribute-generation examples with a topic in the validation split")
        generations, scores, items = [], [], []
        for reference in refs:
            generation = generate_attributes_for(
                workspace, version, reference.topic, count=len(reference.names) or DEFAULT_COUNT,
                context=reference.context,
            )
            score = score_item(generation, reference)
            generations.append(generation)
            scores.append(score)
            items.append({"topic": reference.topic, "where": reference.where,
                          "predicted": [a["name"] for a in generation.check.attributes],
                          "reference": reference.names, "precision": score.precision, "recall": score.recall,
                          "f1": score.f1, "errors": generation.check.errors[:3], "latency_ms": generation.latency_ms})
        metrics = attribute_metrics(generations, scores)
        n = len(refs)
    metrics["skipped"] = skipped
    if dataset_id is not None and version.format == "gguf" and perplexity_items > 0:
        metrics.update(_loss_metrics(workspace, version, dataset_id, task_type, perplexity_items))
    with workspace.session() as session:
        row = Evaluation(
            version_id=version.id,
            dataset_id=dataset_id,
            references_file=str(Path(references).resolve()) if references is not None else None,
            task_type=task_type,
            n=n,
            metrics_json=dumps(metrics),
        )
        session.add(row)
        session.flush()
        evaluation_id = row.id
    return EvaluationResult(evaluation_id, version.version, task_type, n, source, metrics, items)


def _loss_metrics(workspace: Workspace, version: ModelVersion, dataset_id: int, task_type: str,
                  limit: int) -> dict[str, Any]:
    """eval_loss / perplexity of the version on the split's answers of ``task_type``."""
    from lightdom_tui.curation.datasets import dataset_rows  # lazy: curation service
    from lightdom_tui.registry.perplexity import answer_loss

    with workspace.session() as session:
        conversations = [m for e, m in dataset_rows(session, dataset_id, "validation") if e.task_type == task_type]
    result = answer_loss(workspace, version, conversations[:limit])
    return {"eval_loss": result.eval_loss, "perplexity": result.perplexity, "loss_tokens": result.scored_tokens}


@dataclass
class CompareRow:
    """One metric of two versions side by side."""

    metric: str
    a: float | None
    b: float | None
    delta: float | None


@dataclass
class Comparison:
    """Latest evaluations of two versions (on the same source when they share one)."""

    version_a: str
    version_b: str
    task_type: str
    evaluation_a: int
    evaluation_b: int
    same_source: bool
    rows: list[CompareRow]


def _source_key(e: Evaluation) -> tuple[Any, Any]:
    return (e.dataset_id, e.references_file)


def compare(session: Session, ref_a: str | int, ref_b: str | int, *, task_type: str = ATTRIBUTE_TASK) -> Comparison:
    """Metrics of the latest evaluations of two versions with deltas (b − a)."""
    versions = [get_version(session, r) for r in (ref_a, ref_b)]
    evaluations = [
        session.exec(
            select(Evaluation)
            .where(Evaluation.version_id == v.id, Evaluation.task_type == task_type)
            .order_by(col(Evaluation.id).desc())
        ).all()
        for v in versions
    ]
    for v, found in zip(versions, evaluations, strict=True):
        if not found:
            raise LightdomError(f"model '{v.version}': no {task_type} evaluation yet; run `lightdom eval {v.version}`")
    a, b = evaluations[0][0], evaluations[1][0]
    common = next((x for x in evaluations[0] for y in evaluations[1] if _source_key(x) == _source_key(y)), None)
    if common is not None:
        a = common
        b = next(y for y in evaluations[1] if _source_key(y) == _source_key(common))
    metrics_a, metrics_b = loads(a.metrics_json, {}), loads(b.metrics_json, {})
    rows = []
    for metric in dict.fromkeys([*metrics_a, *metrics_b]):
        va, vb = metrics_a.get(metric), metrics_b.get(metric)
        if not isinstance(va, (int, float, type(None))) or not isinstance(vb, (int, float, type(None))):
            continue
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        rows.append(CompareRow(metric, va, vb, delta))
    return Comparison(versions[0].version, versions[1].version, task_type, a.id, b.id, common is not None, rows)
