"""Dataset versions: the list (`dataset list`), one version's details (`dataset show`) and its export
(`dataset export`), through the same use cases as the CLI."""

from __future__ import annotations

import json
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from lightdom_tui.safetext import markup_safe
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.widgets.pane import WorkerErrors
from lightdom_tui.usecases import curation as uc
from lightdom_tui.workspace import Workspace

EXPORT_FORMATS = ("openai", "alpaca", "sharegpt")


class DatasetsLoaded(Message):
    """Every dataset version as plain data (``usecases.curation.dataset_dict``), newest first."""

    def __init__(self, datasets: list[dict[str, Any]]) -> None:
        super().__init__()
        self.datasets = datasets


class DatasetExported(Message):
    """What an export wrote, one line per file."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def detail_text(data: dict[str, Any]) -> str:
    """One version's facts, as `dataset show` gives them (markup: values from data escaped)."""
    lines = [f"[b]{markup_safe(data['ref'])}[/b]  (id {data['id']})", f"created {data['created_at'][:19]}",
             f"train {data['n_train']:,} · validation {data['n_validation']:,} · split {data['split']} · "
             f"seed {data['seed']}", f"manifest {data['manifest_hash'] or '–'}"]
    if data.get("rules"):
        lines.append(f"rules {markup_safe(json.dumps(data['rules'], ensure_ascii=False))}")
    if data.get("prompts"):  # keyed by task type, which comes from imported data
        lines.append(f"prompts: {markup_safe(', '.join(sorted(data['prompts'])))}")
    return "\n".join(lines)


class DatasetsScreen(WorkerErrors, ModalScreen[None]):
    """Dataset versions; x exports the selected one as JSONL, escape closes."""

    BINDINGS = [
        Binding("x", "export", "Export…", id="datasets.export"),
        Binding("escape,q", "close", "Close", id="datasets.close"),
    ]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(classes="dialog-screen")
        self.workspace = workspace
        self.datasets: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog datasets-dialog") as box:
            box.border_title = "datasets (x export · escape close)"
            with Horizontal():
                yield DataTable(id="datasets-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="dataset-detail")
            yield Static("", id="dataset-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("dataset", "train", "val", "created")
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, group="datasets", name="list datasets", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(DatasetsLoaded(uc.list_datasets(self.workspace)))

    def on_datasets_loaded(self, message: DatasetsLoaded) -> None:
        self.datasets = message.datasets
        table = self.query_one(DataTable)
        table.clear()
        for data in self.datasets:
            table.add_row(data["ref"], f"{data['n_train']:,}", f"{data['n_validation']:,}", data["created_at"][:16],
                          key=data["ref"])
        if not self.datasets:
            self.query_one("#dataset-detail", Static).update("no dataset yet: b in Curation builds one")

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        data = self.selected
        if data is not None:
            self.query_one("#dataset-detail", Static).update(detail_text(data))

    @property
    def selected(self) -> dict[str, Any] | None:
        """The dataset version under the cursor."""
        table = self.query_one(DataTable)
        if not self.datasets or table.cursor_row < 0 or table.cursor_row >= len(self.datasets):
            return None
        return self.datasets[table.cursor_row]

    def action_export(self) -> None:
        """Write the selected version as JSONL (format, folder) with a manifest."""
        data = self.selected
        if data is None:
            return
        fields = [FormField("format", "format", "openai", choices=EXPORT_FORMATS),
                  FormField("directory", "folder", placeholder="empty = training_data/exports/NAME@VERSION")]
        self.app.push_screen(FormScreen(f"export {data['ref']}", fields),
                             lambda values: self._export(data["ref"], values) if values is not None else None)

    @work(thread=True, exclusive=True, group="dataset-export", name="export dataset", exit_on_error=False)
    def _export(self, ref: str, values: dict[str, str]) -> None:
        from pathlib import Path

        directory = Path(values["directory"]).expanduser() if values.get("directory", "").strip() else None
        self.post_message(DatasetExported(f"exporting {ref}…"))
        result = uc.export_dataset(self.workspace, ref, directory, format=values.get("format") or "openai")  # type: ignore[arg-type]
        lines = [f"{f.path}: {f.records} records" + (f", {f.tokens} tokens" if f.tokens is not None else "")
                 for f in result.files]
        self.post_message(DatasetExported("\n".join(lines) or "nothing written"))

    def on_dataset_exported(self, message: DatasetExported) -> None:
        self.query_one("#dataset-status", Static).update(message.text)
        if not message.text.endswith("…"):
            self.notify(f"exported: {len(message.text.splitlines())} file(s)")

    def action_close(self) -> None:
        """Back to the pane."""
        self.dismiss(None)
