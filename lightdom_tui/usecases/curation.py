"""Curation use cases: pages of examples, decisions, corrections, undo, datasets, counters, quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace


@dataclass(frozen=True)
class ExampleSelection:
    """What a filter bar or a set of CLI flags selects (the curation service's ``ExampleFilter`` fields)."""

    status: str | None = None
    task_type: str | None = None
    source: str | None = None
    min_quality: float | None = None
    max_quality: float | None = None
    text: str | None = None
    ids: tuple[int, ...] | None = None

    def service_filter(self) -> Any:
        """The curation service's ``ExampleFilter``."""
        from lightdom_tui.curation.query import ExampleFilter

        return ExampleFilter(status=self.status, task_type=self.task_type, source=self.source,
                             min_quality=self.min_quality, max_quality=self.max_quality, text=self.text,
                             ids=list(self.ids) if self.ids else None)


def example_dict(example: Any, full: bool = False) -> dict[str, Any]:
    """An example as plain data: a preview of its first user turn, or (``full``) messages and metadata."""
    from lightdom_tui.db.jsoncol import loads

    messages = loads(example.messages_json, [])
    data = {
        "id": example.id, "status": example.status, "task_type": example.task_type, "source": example.source,
        "quality_score": example.quality_score, "confidence": example.confidence,
        "token_count": example.token_count, "near_duplicate_of": example.near_duplicate_of,
        "parent_id": example.parent_id, "reject_reason": example.reject_reason,
        "created_at": str(example.created_at),
    }
    if full:
        data["messages"] = messages
        data["metadata"] = loads(example.metadata_json, {})
    else:
        first_user = next((m.get("content") or "" for m in messages if m["role"] == "user"), "")
        data["preview"] = first_user[:120]
    return data


def count_examples(ws: Workspace, selection: ExampleSelection) -> int:
    """How many examples the selection matches."""
    from lightdom_tui.curation.query import count_examples as count

    with ws.session() as session:
        return count(session, selection.service_filter())


@dataclass
class ExamplePage:
    """One keyset page: rows (``Example``), the cursor after the last and the total."""

    rows: list[Any]
    next_after: Any
    total: int | None = None


def page_examples(ws: Workspace, selection: ExampleSelection, *, after: Any = None, limit: int = 200,
                  sort: str | None = None, with_total: bool = False) -> ExamplePage:
    """One keyset page of the selection (``sort`` as the TUI's table orders; None: by id)."""
    from lightdom_tui.curation import query

    with ws.session() as session:
        f = selection.service_filter()
        total = query.count_examples(session, f) if with_total else None
        if sort is None:
            rows = query.page_examples(session, f, after=after, limit=limit)
            return ExamplePage(rows, rows[-1].id if len(rows) == limit else None, total)
        result = query.page(session, f, after=after, limit=limit, sort=sort)
        return ExamplePage(result.rows, result.next_after, total)


def get_examples(ws: Workspace, ids: list[int]) -> list[Any]:
    """Examples as stored now, in the order given."""
    from lightdom_tui.curation.examples import get_example

    with ws.session() as session:
        return [get_example(session, example_id) for example_id in ids]


@dataclass
class CurationDone:
    """What a decision changed, its undo batch and (for a correction) the new example."""

    action: str
    changed: int
    batch_id: Any = None
    new_example_id: int | None = None
    examples: list[Any] | None = None


def decide_examples(ws: Workspace, action: str, selection: ExampleSelection | list[int], reason: str | None = None,
                    *, reread: bool = False) -> CurationDone:
    """approve / reject examples by ids or by selection (a rejection needs a reason)."""
    from lightdom_tui.curation import actions

    target = list(selection) if isinstance(selection, list) else selection.service_filter()
    if action == "approve":
        result = actions.approve(ws, target)
    elif action == "reject":
        if not (reason or "").strip():
            raise LightdomError("reason: a rejection needs a reason")
        result = actions.reject(ws, target, reason.strip())
    else:
        raise LightdomError(f"action: unknown {action!r}")
    examples = get_examples(ws, target) if reread and isinstance(target, list) else None
    return CurationDone(result.action, int(result.changed), result.batch_id, examples=examples)


def parse_messages(text: str, where: str) -> list[dict[str, Any]]:
    """Edited messages as JSON text: a list, or ``{"messages": [...]}``."""
    try:
        messages = json.loads(text)
    except ValueError as exc:
        raise LightdomError(f"{where}: edited messages are not valid JSON: {exc}") from None
    if isinstance(messages, dict):
        messages = messages.get("messages")
    if not isinstance(messages, list):
        raise LightdomError(f"{where}: expected a JSON list of messages or {{\"messages\": [...]}}")
    return messages


@dataclass(frozen=True)
class Correction:
    """A correction of one example: new messages (JSON text), or a new final answer."""

    example_id: int
    messages_text: str | None = None
    answer: str | None = None
    reason: str | None = None
    where: str | None = None  # what to name in errors (a file), default "example N"


def correct_example(ws: Workspace, correction: Correction) -> CurationDone:
    """Save a correction as a new approved example linked to the original (which is kept)."""
    from lightdom_tui.curation.actions import edit_example
    from lightdom_tui.curation.examples import example_messages, get_example

    where = correction.where or f"example {correction.example_id}"
    if (correction.messages_text is None) == (correction.answer is None):
        raise LightdomError("edit: give exactly one of new messages or a new answer")
    if correction.messages_text is not None:
        messages = parse_messages(correction.messages_text, where)
    else:
        with ws.session() as session:
            messages = example_messages(get_example(session, correction.example_id))
        if not messages or messages[-1]["role"] != "assistant":
            raise LightdomError(f"{where}: does not end with an assistant answer; give the whole messages")
        messages[-1] = {**messages[-1], "content": correction.answer}
    result = edit_example(ws, correction.example_id, messages, reason=correction.reason)
    return CurationDone("edit", 1, result.batch_id, new_example_id=int(result.new_example_id))


def undo_last(ws: Workspace) -> CurationDone:
    """Revert the last action batch."""
    from lightdom_tui.curation.actions import undo_last as undo

    result = undo(ws)
    return CurationDone("undo", int(result.changed), result.batch_id)


def example_stats(ws: Workspace) -> Any:
    """Counts by status, task type and source; duplicates, corrections, quarantine."""
    from lightdom_tui.curation.examples import example_stats as stats

    with ws.session() as session:
        return stats(session)


def counters_line(ws: Workspace) -> str:
    """One line (rich markup): pending / approved / rejected, duplicates, corrections, quarantined, total."""
    return format_counters(example_stats(ws))


def format_counters(stats: Any) -> str:
    """The counters line of ``example_stats`` (rich markup)."""
    status = stats.by_status
    return (
        f"[yellow]pending {status.get('pending', 0):,}[/]  [green]approved {status.get('approved', 0):,}[/]  "
        f"[red]rejected {status.get('rejected', 0):,}[/]  duplicates {stats.near_duplicates:,}  "
        f"corrections {stats.corrections:,}  quarantined {stats.quarantined:,}  total {stats.total:,}"
    )


# --------------------------------------------------------------------------- datasets


def dataset_dict(dataset: Any) -> dict[str, Any]:
    """A dataset version as plain data."""
    from lightdom_tui.db.jsoncol import loads

    return {"id": dataset.id, "name": dataset.name, "version": dataset.version, "ref": f"{dataset.name}@{dataset.version}",
            "created_at": str(dataset.created_at), "manifest_hash": dataset.manifest_hash, "seed": dataset.seed,
            "split": dataset.split_ratio, "n_train": dataset.n_train, "n_validation": dataset.n_validation,
            "rules": loads(dataset.rules_json, {}), "prompts": loads(dataset.prompts_json, {})}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset version to freeze: name, split, seed and the selection (approved by default)."""

    name: str
    selection: ExampleSelection = ExampleSelection()
    split: float = 0.8
    seed: int = 0
    task_types: tuple[str, ...] | None = None
    anonymise: bool | None = None


def build_dataset(ws: Workspace, spec: DatasetSpec) -> dict[str, Any]:
    """Freeze the selection into an immutable dataset version with a seeded split."""
    from dataclasses import replace

    from lightdom_tui.curation.datasets import build_dataset as build

    name = (spec.name or "").strip()
    if not name:
        raise LightdomError("dataset name: must not be empty")
    status = spec.selection.status or "approved"  # like `dataset build`: approved unless a status is named
    selection = replace(spec.selection, status=None)
    dataset = build(ws, name, split=spec.split, seed=spec.seed,
                    task_type=list(spec.task_types) if spec.task_types else None,
                    status=None if status == "any" else status, anonymise=spec.anonymise,
                    filter=selection.service_filter())
    return dataset_dict(dataset)


def list_datasets(ws: Workspace) -> list[dict[str, Any]]:
    """Every dataset version, newest first."""
    from lightdom_tui.curation.datasets import list_datasets as datasets

    with ws.session() as session:
        return [dataset_dict(d) for d in datasets(session)]


def show_dataset(ws: Workspace, ref: str) -> dict[str, Any]:
    """One dataset version by NAME, NAME@VERSION or id."""
    from lightdom_tui.curation.datasets import get_dataset

    with ws.session() as session:
        return dataset_dict(get_dataset(session, ref))


@dataclass
class QuarantinePage:
    """The newest quarantined lines (capped) and how many there are."""

    rows: list[Any]
    total: int


def quarantine(ws: Workspace, *, limit: int = 50, file: str | None = None) -> QuarantinePage:
    """Quarantined lines: file, line, reason and the raw text."""
    from lightdom_tui.curation.quarantine import count_quarantine, list_quarantine

    with ws.session() as session:
        return QuarantinePage(list_quarantine(session, limit=limit, file=file), count_quarantine(session, file=file))


def read_messages_file(path: Path) -> str:
    """A corrections file's text (errors name the file)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LightdomError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class UndoPreview:
    """What ``undo_last`` would revert now: the batch's action, how many examples, when."""

    batch_id: str
    action: str
    examples: int
    created_at: Any

    def describe(self) -> str:
        """E.g. "approve of 29 examples (2026-11-30 12:01)"."""
        when = self.created_at.strftime("%Y-%m-%d %H:%M") if hasattr(self.created_at, "strftime") else self.created_at
        noun = "example" if self.examples == 1 else "examples"
        return f"{self.action} of {self.examples:,} {noun} ({when})"


def preview_undo(ws: Workspace) -> UndoPreview | None:
    """The batch ``undo_last`` would revert (the newest not yet undone), or None when there is none."""
    from lightdom_tui.curation.actions import batch_size, last_undoable

    with ws.session() as session:
        last = last_undoable(session)
        if last is None:
            return None
        count, created = batch_size(session, last[0])
        return UndoPreview(last[0], last[1], count, created)


# --------------------------------------------------------------------------- imports, rules, exports, upkeep


def ingest(ws: Workspace, paths: list[Path], *, source: str | None = None, task_type: str | None = None,
           progress: Any = None) -> Any:
    """Import files or folders; bad lines are quarantined with file, line and reason (``IngestReport``)."""
    from lightdom_tui.curation.ingest import ingest_paths

    return ingest_paths(ws, paths, source=source, task_type=task_type, progress=progress)


def watch_inbox(ws: Workspace, directory: Path | None = None, *, once: bool = False, on_event: Any = None,
                stop_event: Any = None) -> Any:
    """Ingest files dropped into the inbox (``once``: those waiting now), moving each when committed;
    a watch runs until Ctrl-C or until ``stop_event`` (a ``threading.Event``) is set."""
    from lightdom_tui.curation import watch

    if once:
        return watch.process_inbox(ws, directory, on_event=on_event)
    return watch.watch_inbox(ws, directory, on_event=on_event, stop_event=stop_event)


def scan_paraphrases(ws: Workspace, task_type: str | None = None) -> int:
    """Flag close paraphrases over every example; how many were flagged."""
    from lightdom_tui.curation.dedup import scan_paraphrases as scan

    return scan(ws, task_type=task_type)


@dataclass(frozen=True)
class RulesSpec:
    """Auto-rule thresholds (at least one of confidence and quality)."""

    min_confidence: float | None = None
    min_quality: float | None = None
    exclude_rejected: bool = True
    task_types: tuple[str, ...] | None = None
    dry_run: bool = False


def apply_rules(ws: Workspace, spec: RulesSpec) -> Any:
    """Approve / reject pending examples by thresholds, as one undoable batch (``RulesResult``)."""
    from lightdom_tui.curation.rules import AutoRules, apply_rules as apply

    rules = AutoRules(min_confidence=spec.min_confidence, min_quality=spec.min_quality,
                      exclude_rejected=spec.exclude_rejected,
                      task_types=list(spec.task_types) if spec.task_types else None)
    if not rules.active:
        raise LightdomError("rules: give --min-confidence and/or --min-quality")
    return apply(ws, rules, dry_run=spec.dry_run)


def export_dataset(ws: Workspace, ref: str, directory: Path, *, format: str = "openai",  # noqa: A002
                   per_task_type: bool = False, token_counts: bool = True) -> Any:
    """Write a dataset version as JSONL files with a manifest; ``token_counts`` with the base model's tokenizer."""
    from lightdom_tui.curation.datasets import get_dataset
    from lightdom_tui.curation.export import export_dataset as export

    with ws.session() as session:
        get_dataset(session, ref)  # a wrong name is told before the tokenizer is loaded
    counter = base_token_counter(ws) if token_counts else None
    return export(ws, ref, directory, format=format, per_task_type=per_task_type, token_counter=counter)


def base_token_counter(ws: Workspace, base: str | None = None) -> tuple[str, Any]:
    """(version name, text → tokens) for the base model (``settings.training.base`` unless ``base``)."""
    from lightdom_tui.curation.tokens import load_counter
    from lightdom_tui.registry.versions import get_version

    with ws.session() as session:
        version = get_version(session, base or ws.settings.training.base)
        name, path, fmt = version.version, Path(version.path), version.format
    return name, load_counter(path, fmt)


def generate_tool_examples(ws: Workspace, tools: Path, scenarios: Path, *, seed: int = 0,
                           task_type: str = "tool_use") -> Any:
    """Generate tool-use examples from function definitions and scenario templates."""
    from lightdom_tui.curation.toolgen import toolgen

    return toolgen(ws, tools, scenarios, seed=seed, task_type=task_type)


def cleanup(ws: Workspace, days: int | None = None, *, dry_run: bool = False) -> Any:
    """Remove old quarantine rows, processed inbox files and gateway conversations (never examples)."""
    from lightdom_tui.curation.retention import cleanup as clean

    return clean(ws, days, dry_run=dry_run)
