"""Curation commands: ingest, watch, examples, rules, dataset, toolgen, cleanup, quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lightdom_tui.commands._common import JsonOpt, emit, err_console, markup_safe, workspace_from
from lightdom_tui.errors import LightdomError

IdsArg = Annotated[list[int] | None, typer.Argument(help="Example ids.")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="Filter: pending / approved / rejected.")]
TaskOpt = Annotated[str | None, typer.Option("--task-type", help="Filter: task type.")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Filter: source.")]
MinQOpt = Annotated[float | None, typer.Option("--min-quality", help="Filter: quality ≥ X.")]
MaxQOpt = Annotated[float | None, typer.Option("--max-quality", help="Filter: quality ≤ X.")]
TextOpt = Annotated[str | None, typer.Option("--text", help="Filter: conversation contains TEXT.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Act on every example the filters select.")]


def register(app: typer.Typer) -> None:
    """Add the curation commands to the root app."""
    app.command("ingest")(ingest)
    app.command("watch")(watch)
    app.command("toolgen")(toolgen)
    app.command("cleanup")(cleanup)
    examples_app = typer.Typer(help="Browse and curate training examples.")
    for name, func in (("list", examples_list), ("show", examples_show), ("approve", examples_approve),
                       ("reject", examples_reject), ("edit", examples_edit), ("undo", examples_undo),
                       ("stats", examples_stats), ("dedup", examples_dedup)):
        examples_app.command(name)(func)
    app.add_typer(examples_app, name="examples")
    rules_app = typer.Typer(help="Automatic approve/reject rules.")
    rules_app.command("apply")(rules_apply)
    app.add_typer(rules_app, name="rules")
    dataset_app = typer.Typer(help="Immutable dataset versions and their export.")
    dataset_app.command("build")(dataset_build)
    dataset_app.command("list")(dataset_list)
    dataset_app.command("show")(dataset_show)
    dataset_app.command("export")(dataset_export)
    app.add_typer(dataset_app, name="dataset")
    quarantine_app = typer.Typer(help="Lines that could not be imported.")
    quarantine_app.command("list")(quarantine_list)
    app.add_typer(quarantine_app, name="quarantine")


def _filter(ids: list[int] | None = None, status: str | None = None, task_type: str | None = None,
            source: str | None = None, min_quality: float | None = None, max_quality: float | None = None,
            text: str | None = None):  # noqa: ANN202
    from lightdom_tui.usecases.curation import ExampleSelection

    return ExampleSelection(status=status, task_type=task_type, source=source, min_quality=min_quality,
                            max_quality=max_quality, text=text, ids=tuple(ids) if ids else None)


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.jsonl, .json, .jsonl.gz).")],
    source: Annotated[str | None, typer.Option("--source", help="Source recorded on every example.")] = None,
    task_type: Annotated[str | None, typer.Option("--task-type", help="Task type for every example.")] = None,
    json: JsonOpt = False,
) -> None:
    """Import training data; broken lines are quarantined with file, line and reason."""
    from lightdom_tui.usecases.curation import ingest as ingest_paths

    ws = workspace_from(ctx)
    try:
        if json:
            report = ingest_paths(ws, paths, source=source, task_type=task_type)
        else:
            from rich.progress import Progress

            with Progress(console=err_console, transient=True) as bar:
                task = bar.add_task("ingest", total=None)

                def progress(p: Any) -> None:
                    bar.update(task, description=f"{p.file}", completed=p.read)

                report = ingest_paths(ws, paths, source=source, task_type=task_type, progress=progress)
    finally:
        ws.close()
    payload = {"read": report.read, "imported": report.imported, "duplicates": report.duplicates,
               "quarantined": report.quarantined, "near_duplicates": report.near_duplicates,
               "paraphrases": report.paraphrases, "paraphrase_check": report.paraphrase_check,
               "files": report.files, "skipped_files": report.skipped_files, "incomplete": report.incomplete,
               "errors": [{"file": e.file, "line": e.line, "reason": e.reason} for e in report.errors]}

    def human(console: Console) -> None:
        console.print(f"read {report.read}: [green]imported {report.imported}[/], duplicates {report.duplicates}, "
                      f"[red]quarantined {report.quarantined}[/] (near-duplicates flagged {report.near_duplicates}"
                      f", paraphrases {report.paraphrases})")
        for path in report.skipped_files:
            console.print(f"  skipped (already ingested): {path}")
        for line in report.incomplete:
            console.print(f"  not finished: {line}", markup=False)
        for error in report.errors[:20]:
            console.print(f"  {error.file}: {error.reason}", markup=False)
        if report.quarantined > 20:
            console.print(f"  … {report.quarantined - 20} more: lightdom quarantine list")

    emit(payload, json, human)


def watch(
    ctx: typer.Context,
    directory: Annotated[Path | None, typer.Argument(help="Folder to watch (default training_data/inbox).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Process waiting files and exit.")] = False,
    json: JsonOpt = False,
) -> None:
    """Ingest files dropped into the inbox; each moves to processed/ after its rows are committed."""
    from lightdom_tui.usecases.curation import watch_inbox

    ws = workspace_from(ctx)

    def on_event(event: Any) -> None:
        if not json:
            if event.error:
                err_console.print(f"[red]failed[/] {event.file}: {event.error}", markup=True)
            else:
                r = event.report
                err_console.print(f"{event.file}: read {r.read}, imported {r.imported}, duplicates {r.duplicates}, "
                                  f"quarantined {r.quarantined} → {event.moved_to}")

    try:
        if once:
            summary = watch_inbox(ws, directory, once=True, on_event=on_event)
        else:
            if not json:
                err_console.print(f"watching {directory or ws.inbox_dir} (Ctrl-C to stop)")
            summary = watch_inbox(ws, directory, on_event=on_event)
    finally:
        ws.close()
    emit(summary, json)


def examples_list(
    ctx: typer.Context,
    status: StatusOpt = None, task_type: TaskOpt = None, source: SourceOpt = None,
    min_quality: MinQOpt = None, max_quality: MaxQOpt = None, text: TextOpt = None,
    after: Annotated[int | None, typer.Option("--after", help="Continue after this id.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page.")] = 50,
    json: JsonOpt = False,
) -> None:
    """List examples (keyset pages: pass the printed next id as --after)."""
    from lightdom_tui.usecases.curation import example_dict, page_examples

    ws = workspace_from(ctx)
    f = _filter(None, status, task_type, source, min_quality, max_quality, text)
    try:
        page = page_examples(ws, f, after=after, limit=limit, with_total=True)
    finally:
        ws.close()
    total, items = page.total, [example_dict(r) for r in page.rows]
    next_after = items[-1]["id"] if len(items) == limit else None

    def human(console: Console) -> None:
        table = Table(title=f"examples: showing {len(items)} of {total}")
        for column in ("id", "status", "task", "quality", "source", "preview"):
            table.add_column(column)
        for item in items:
            table.add_row(str(item["id"]), markup_safe(item["status"]), markup_safe(item["task_type"]),
                          f"{item['quality_score'] or 0:.2f}", markup_safe(item["source"]), markup_safe(item["preview"][:60]))
        console.print(table)
        if next_after:
            console.print(f"next page: --after {next_after}")

    emit({"total": total, "examples": items, "next_after": next_after}, json, human)


def examples_show(ctx: typer.Context, example_id: Annotated[int, typer.Argument(help="Example id.")],
                  json: JsonOpt = False) -> None:
    """Show one example in full (messages and metadata)."""
    from lightdom_tui.usecases.curation import example_dict, get_examples

    ws = workspace_from(ctx)
    try:
        data = example_dict(get_examples(ws, [example_id])[0], full=True)
    finally:
        ws.close()
    emit(data, json)


def _act(ctx: typer.Context, ids: list[int] | None, every: bool, f: Any, action: str,
         reason: str | None = None) -> dict[str, Any]:
    from lightdom_tui.usecases.curation import decide_examples

    if not ids and not every:
        raise LightdomError("selection: give example IDs, or --all with optional filters")
    if ids and every:
        raise LightdomError("selection: give IDs or --all, not both")
    ws = workspace_from(ctx)
    try:
        result = decide_examples(ws, action, list(ids) if ids else f, reason)
    finally:
        ws.close()
    return {"action": result.action, "changed": result.changed, "batch_id": result.batch_id}


def examples_approve(
    ctx: typer.Context, ids: IdsArg = None, every: AllOpt = False,
    status: StatusOpt = None, task_type: TaskOpt = None, source: SourceOpt = None,
    min_quality: MinQOpt = None, max_quality: MaxQOpt = None, text: TextOpt = None, json: JsonOpt = False,
) -> None:
    """Approve examples by id, or every example the filters select (--all)."""
    f = _filter(None, status, task_type, source, min_quality, max_quality, text)
    data = _act(ctx, ids, every, f, "approve")
    emit(data, json, lambda c: c.print(f"approved {data['changed']} (undo: lightdom examples undo)"))


def examples_reject(
    ctx: typer.Context, ids: IdsArg = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "",
    every: AllOpt = False, status: StatusOpt = None, task_type: TaskOpt = None, source: SourceOpt = None,
    min_quality: MinQOpt = None, max_quality: MaxQOpt = None, text: TextOpt = None, json: JsonOpt = False,
) -> None:
    """Reject examples with a reason, by id or every example the filters select (--all)."""
    if not reason.strip():
        raise LightdomError("--reason: a rejection needs a reason")
    f = _filter(None, status, task_type, source, min_quality, max_quality, text)
    data = _act(ctx, ids, every, f, "reject", reason)
    emit(data, json, lambda c: c.print(f"rejected {data['changed']} (undo: lightdom examples undo)"))


def examples_edit(
    ctx: typer.Context,
    example_id: Annotated[int, typer.Argument(help="Example id.")],
    messages_file: Annotated[Path | None, typer.Option("--messages", help="JSON file with the corrected messages.")] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="Replace the final assistant answer.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it was corrected.")] = None,
    json: JsonOpt = False,
) -> None:
    """Correct an example: a new approved example linked to the original (the original is kept)."""
    from lightdom_tui.usecases.curation import Correction, correct_example, read_messages_file

    if (messages_file is None) == (answer is None):
        raise LightdomError("edit: give exactly one of --messages FILE or --answer TEXT")
    text = read_messages_file(messages_file) if messages_file is not None else None
    ws = workspace_from(ctx)
    try:
        result = correct_example(ws, Correction(example_id, text, answer, reason,
                                                str(messages_file) if messages_file is not None else None))
    finally:
        ws.close()
    data = {"action": "edit", "original_id": example_id, "new_example_id": result.new_example_id,
            "batch_id": result.batch_id}
    emit(data, json, lambda c: c.print(f"example {example_id} corrected as #{result.new_example_id}"))


def examples_undo(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Undo the last curation action (repeat to go further back)."""
    from lightdom_tui.usecases.curation import undo_last

    ws = workspace_from(ctx)
    try:
        result = undo_last(ws)
    finally:
        ws.close()
    data = {"action": "undo", "batch_id": result.batch_id, "changed": result.changed}
    emit(data, json, lambda c: c.print(f"undone: {result.changed} example(s) restored"))


def examples_stats(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Counts by status, task type and source; duplicates, corrections, quarantine."""
    from lightdom_tui.usecases.curation import example_stats

    ws = workspace_from(ctx)
    try:
        stats = example_stats(ws)
    finally:
        ws.close()
    emit(stats, json)


def examples_dedup(ctx: typer.Context, task_type: TaskOpt = None, json: JsonOpt = False) -> None:
    """Flag close paraphrases (MinHash) across all examples (after big imports)."""
    from lightdom_tui.usecases.curation import scan_paraphrases

    ws = workspace_from(ctx)
    try:
        flagged = scan_paraphrases(ws, task_type=task_type)
    finally:
        ws.close()
    emit({"flagged": flagged}, json, lambda c: c.print(f"flagged {flagged} paraphrase(s)"))


def rules_apply(
    ctx: typer.Context,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence")] = None,
    min_quality: Annotated[float | None, typer.Option("--min-quality")] = None,
    exclude_rejected: Annotated[bool, typer.Option("--exclude-rejected/--include-rejected")] = True,
    task_types: Annotated[list[str] | None, typer.Option("--task-type", help="Only these task types.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count without changing anything.")] = False,
    json: JsonOpt = False,
) -> None:
    """Approve/reject pending examples by thresholds (deterministic; undo with `examples undo`)."""
    from lightdom_tui.usecases.curation import RulesSpec, apply_rules

    spec = RulesSpec(min_confidence, min_quality, exclude_rejected, tuple(task_types) if task_types else None,
                     dry_run)
    ws = workspace_from(ctx)
    try:
        result = apply_rules(ws, spec)
    finally:
        ws.close()
    emit(result, json, lambda c: c.print(
        f"{'would approve' if dry_run else 'approved'} {result.approved}, rejected {result.rejected}, "
        f"unchanged {result.unchanged} of {result.examined} pending"))


def dataset_build(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (each build is a new version).")],
    split: Annotated[float, typer.Option("--split", help="Training share per task type.")] = 0.8,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    task_type: Annotated[list[str] | None, typer.Option("--task-type")] = None,
    status: Annotated[str, typer.Option("--status")] = "approved",
    min_quality: MinQOpt = None,
    anonymise: Annotated[bool | None, typer.Option("--anonymise/--no-anonymise",
                                                   help="Default: settings curation.anonymise.")] = None,
    json: JsonOpt = False,
) -> None:
    """Freeze the selected examples into an immutable dataset version with a seeded split."""
    from lightdom_tui.usecases.curation import DatasetSpec, ExampleSelection, build_dataset

    ws = workspace_from(ctx)
    try:
        data = build_dataset(ws, DatasetSpec(name, ExampleSelection(status=status, min_quality=min_quality), split,
                                             seed, tuple(task_type) if task_type else None, anonymise))
    finally:
        ws.close()
    emit(data, json, lambda c: c.print(
        f"dataset {data['ref']}: {data['n_train']} train / {data['n_validation']} validation, "
        f"manifest {data['manifest_hash'][:12]}…"))


def dataset_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Every dataset version, newest first."""
    from lightdom_tui.usecases.curation import list_datasets

    ws = workspace_from(ctx)
    try:
        items = list_datasets(ws)
    finally:
        ws.close()

    def human(console: Console) -> None:
        table = Table(title="datasets")
        for column in ("ref", "train", "validation", "seed", "manifest", "created"):
            table.add_column(column)
        for d in items:
            table.add_row(d["ref"], str(d["n_train"]), str(d["n_validation"]), str(d["seed"]),
                          d["manifest_hash"][:12], d["created_at"][:19])
        console.print(table)

    emit({"datasets": items}, json, human)


def dataset_show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or id.")],
                 json: JsonOpt = False) -> None:
    """One dataset version: selection, split sizes, manifest hash, prompts."""
    from lightdom_tui.usecases.curation import show_dataset

    ws = workspace_from(ctx)
    try:
        data = show_dataset(ws, ref)
    finally:
        ws.close()
    emit(data, json)


def dataset_export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or id.")],
    directory: Annotated[Path | None, typer.Argument(help="Output folder (default training_data/exports/REF).")] = None,
    format: Annotated[str, typer.Option("--format", help="openai | alpaca | sharegpt")] = "openai",  # noqa: A002
    per_task_type: Annotated[bool, typer.Option("--per-task-type", help="One file per task type and split.")] = False,
    no_tokens: Annotated[bool, typer.Option("--no-token-counts", help="Skip exact token counting.")] = False,
    json: JsonOpt = False,
) -> None:
    """Write a dataset version as JSONL (PII anonymised as the version says; token counts in manifest.json)."""
    from lightdom_tui.usecases.curation import export_dataset

    ws = workspace_from(ctx)
    try:
        result = export_dataset(ws, ref, directory, format=format, per_task_type=per_task_type,
                                token_counts=not no_tokens)
    finally:
        ws.close()

    def human(console: Console) -> None:
        for f in result.files:
            console.print(f"{f.path}: {f.records} records" + (f", {f.tokens} tokens" if f.tokens is not None else ""))
        console.print(f"PII replaced: {result.pii.get('replaced') or 'none'}")

    emit(result, json, human)


def toolgen(
    ctx: typer.Context,
    tools: Annotated[Path, typer.Argument(help="OpenAI function definitions (JSON).")],
    scenarios: Annotated[Path, typer.Argument(help="Scenario templates (JSON).")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    task_type: Annotated[str, typer.Option("--task-type")] = "tool_use",
    json: JsonOpt = False,
) -> None:
    """Generate tool-use examples (tool calls, tool results, final answers, error cases)."""
    from lightdom_tui.usecases.curation import generate_tool_examples as run_toolgen

    ws = workspace_from(ctx)
    try:
        result = run_toolgen(ws, tools, scenarios, seed=seed, task_type=task_type)
    finally:
        ws.close()
    data = {"generated": result.generated, "imported": result.imported, "duplicates": result.duplicates,
            "error_cases": result.error_cases, "example_ids": result.example_ids}
    emit(data, json, lambda c: c.print(f"generated {result.generated}: imported {result.imported}, "
                                       f"duplicates {result.duplicates}, error cases {result.error_cases}"))


def cleanup(
    ctx: typer.Context,
    days: Annotated[int | None, typer.Option("--days", help="Age limit (default: settings retention_days).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    json: JsonOpt = False,
) -> None:
    """Remove old quarantine rows, processed inbox files and gateway conversations (never examples)."""
    from lightdom_tui.usecases.curation import cleanup as run_cleanup

    ws = workspace_from(ctx)
    try:
        result = run_cleanup(ws, days, dry_run=dry_run)
    finally:
        ws.close()
    emit(result, json, lambda c: c.print(result.summary()))


def quarantine_list(
    ctx: typer.Context,
    file: Annotated[str | None, typer.Option("--file", help="Only this file.")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    json: JsonOpt = False,
) -> None:
    """Quarantined lines: file, line, reason and the raw text."""
    from lightdom_tui.usecases.curation import quarantine

    ws = workspace_from(ctx)
    try:
        page = quarantine(ws, limit=limit, file=file)
    finally:
        ws.close()
    total = page.total
    items = [{"id": r.id, "file": r.file, "line": r.line, "reason": r.reason, "raw": r.raw[:500],
              "created_at": str(r.created_at)} for r in page.rows]

    def human(console: Console) -> None:
        for item in items:
            console.print(f"{item['file']}: {item['reason']}", markup=False)
        console.print(f"showing {len(items)} of {total}")

    emit({"total": total, "quarantine": items}, json, human)
