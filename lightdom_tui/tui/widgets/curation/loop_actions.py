"""The curation pane's loop actions the CLI has too: ingest (files or the inbox), auto-rules, paraphrase
scan, clean-up of old quarantine rows and processed files, and the datasets list. Each calls the same use case as its CLI command, in a thread worker.

A mixin of ``CurationPane`` (its bindings are declared there, so help and the keymap see them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work

from lightdom_tui.tui.messages import DataChanged, ExamplesReload, Notice
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.usecases import curation as uc
from lightdom_tui.usecases.options import parse_float_option, split_list

YES_NO = ("no", "yes")


def ingest_line(report: Any) -> str:
    """The count report, as `lightdom ingest` prints it."""
    line = (f"read {report.read}: imported {report.imported}, duplicates {report.duplicates}, "
            f"quarantined {report.quarantined}")
    extra = [f"near-duplicates flagged {report.near_duplicates}"] if getattr(report, "near_duplicates", 0) else []
    if getattr(report, "skipped_files", None):
        extra.append(f"{len(report.skipped_files)} file(s) already ingested")
    if report.quarantined:
        extra.append("Q shows the quarantine")
    return line + (f" ({'; '.join(extra)})" if extra else "")


def inbox_line(summary: Any) -> str:
    """What one pass over the inbox did, as `lightdom watch --once` reports it."""
    line = (f"inbox: {summary.files} file(s), read {summary.read}: imported {summary.imported}, "
            f"duplicates {summary.duplicates}, quarantined {summary.quarantined}")
    if summary.waiting:
        line += f"; {len(summary.waiting)} still being written (next pass)"
    if summary.failed:
        line += f"; failed: {'; '.join(summary.failed)}"
    return line


class CurationLoopActions:
    """Ingest, inbox, auto-rules, paraphrase scan and datasets, for ``CurationPane``."""

    workspace: Any

    # ------------------------------------------------------------------ ingest

    def action_ingest(self) -> None:
        """Import files or folders (empty: the files waiting in the inbox)."""
        fields = [
            FormField("paths", "files or folders", placeholder="comma separated; empty = the inbox"),
            FormField("source", "source", placeholder="optional, recorded on every example"),
            FormField("task_type", "task type", placeholder="optional, for every example"),
        ]
        note = (f"JSONL / JSON / .jsonl.gz. Broken lines go to the quarantine (Q) with file, line and reason. "
                f"Inbox: {self.workspace.inbox_dir}")
        self.app.push_screen(FormScreen("ingest", fields, note=note),  # type: ignore[attr-defined]
                             lambda values: self._ingest(values) if values is not None else None)

    @work(thread=True, exclusive=True, group="ingest", name="ingest", exit_on_error=False)
    def _ingest(self, values: dict[str, str]) -> None:
        paths = [Path(p).expanduser() for p in split_list(values.get("paths"))] if values.get("paths") else []
        source = values.get("source", "").strip() or None
        task_type = values.get("task_type", "").strip() or None
        self.post_message(Notice("ingesting the inbox…" if not paths else f"ingesting {len(paths)} path(s)…"))  # type: ignore[attr-defined]
        if paths:
            text = ingest_line(uc.ingest(self.workspace, paths, source=source, task_type=task_type))
        else:
            text = inbox_line(uc.watch_inbox(self.workspace, once=True))
        self.post_message(Notice(text))  # type: ignore[attr-defined]
        self.post_message(DataChanged("examples"))  # type: ignore[attr-defined]

    def action_toolgen(self) -> None:
        """Generate tool-use examples from function definitions and scenario templates (`lightdom toolgen`)."""
        fields = [
            FormField("tools", "tools file", placeholder="OpenAI function definitions (JSON)"),
            FormField("scenarios", "scenarios file", placeholder="scenario templates (JSON)"),
            FormField("seed", "seed", "0"),
            FormField("task_type", "task type", "tool_use"),
        ]
        self.app.push_screen(FormScreen("generate tool-use examples", fields),  # type: ignore[attr-defined]
                             lambda values: self._toolgen(values) if values is not None else None)

    @work(thread=True, exclusive=True, group="ingest", name="toolgen", exit_on_error=False)
    def _toolgen(self, values: dict[str, str]) -> None:
        from lightdom_tui.errors import LightdomError
        from lightdom_tui.usecases.options import parse_int_option

        tools, scenarios = (values.get("tools") or "").strip(), (values.get("scenarios") or "").strip()
        if not tools or not scenarios:
            raise LightdomError("toolgen: give both the tools file and the scenarios file")
        result = uc.generate_tool_examples(self.workspace, Path(tools).expanduser(), Path(scenarios).expanduser(),
                                           seed=parse_int_option(values.get("seed") or "0", "seed"),
                                           task_type=(values.get("task_type") or "").strip() or "tool_use")
        self.post_message(Notice(f"generated {result.generated}: imported {result.imported}, "  # type: ignore[attr-defined]
                                 f"duplicates {result.duplicates}, error cases {result.error_cases}"))
        self.post_message(DataChanged("examples"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ rules and paraphrases

    def action_rules(self) -> None:
        """Approve / reject pending examples by thresholds (one undoable batch), as `lightdom rules apply`."""
        fields = [
            FormField("min_confidence", "min confidence", placeholder="e.g. 0.8 (empty = not used)"),
            FormField("min_quality", "min quality", placeholder="e.g. 0.6 (empty = not used)"),
            FormField("task_types", "task types", placeholder="comma separated; empty = all"),
            FormField("exclude_rejected", "rejected stay rejected", "yes", choices=YES_NO[::-1]),
            FormField("dry_run", "dry run (count only)", "no", choices=YES_NO),
        ]
        self.app.push_screen(FormScreen("auto-rules", fields),  # type: ignore[attr-defined]
                             lambda values: self._rules(values) if values is not None else None)

    @work(thread=True, exclusive=True, group="curation-bulk", name="rules apply", exit_on_error=False)
    def _rules(self, values: dict[str, str]) -> None:
        spec = uc.RulesSpec(
            min_confidence=parse_float_option(values.get("min_confidence", ""), "min confidence"),
            min_quality=parse_float_option(values.get("min_quality", ""), "min quality"),
            exclude_rejected=values.get("exclude_rejected", "yes") != "no",
            task_types=tuple(split_list(values.get("task_types"))) or None,
            dry_run=values.get("dry_run") == "yes",
        )
        result = uc.apply_rules(self.workspace, spec)
        verb = "would approve" if spec.dry_run else "approved"
        self.post_message(Notice(f"rules: {verb} {result.approved}, rejected {result.rejected}, "  # type: ignore[attr-defined]
                                 f"unchanged {result.unchanged} of {result.examined} pending"))
        if not spec.dry_run:
            self.post_message(ExamplesReload())  # type: ignore[attr-defined]

    def action_dedup(self) -> None:
        """Flag close paraphrases across all examples, as `lightdom examples dedup`."""
        self._dedup()

    @work(thread=True, exclusive=True, group="curation-bulk", name="find paraphrases", exit_on_error=False)
    def _dedup(self) -> None:
        self.post_message(Notice("looking for paraphrases…"))  # type: ignore[attr-defined]
        flagged = uc.scan_paraphrases(self.workspace)
        self.post_message(Notice(f"flagged {flagged} paraphrase(s)"))  # type: ignore[attr-defined]
        self.post_message(ExamplesReload())  # type: ignore[attr-defined]

    def action_cleanup(self) -> None:
        """Remove old quarantine rows, processed inbox files and gateway conversations, never examples
        (`lightdom cleanup`)."""
        days = self.workspace.settings.curation.retention_days
        fields = [FormField("days", "older than (days)", str(days)),
                  FormField("dry_run", "dry run (count only)", "no", choices=YES_NO)]
        self.app.push_screen(FormScreen("clean up the quarantine and processed files", fields),  # type: ignore[attr-defined]
                             lambda values: self._cleanup(values) if values is not None else None)

    @work(thread=True, exclusive=True, group="curation-bulk", name="cleanup", exit_on_error=False)
    def _cleanup(self, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.options import parse_int_option

        dry_run = values.get("dry_run") == "yes"
        result = uc.cleanup(self.workspace, parse_int_option(values.get("days"), "days"), dry_run=dry_run)
        self.post_message(Notice(result.summary()))  # type: ignore[attr-defined]
        if not dry_run:
            self.post_message(DataChanged("quarantine"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ datasets

    def action_datasets(self) -> None:
        """The dataset versions: list, details, export."""
        from lightdom_tui.tui.screens.datasets import DatasetsScreen

        self.app.push_screen(DatasetsScreen(self.workspace))  # type: ignore[attr-defined]
