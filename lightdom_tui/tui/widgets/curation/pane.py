"""Curation pane: the examples table, filters, conversation view, actions and the quarantine list."""

from __future__ import annotations

from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Static

from lightdom_tui.tui.messages import (
    CountersLoaded,
    DataChanged,
    DatasetChecked,
    ExamplesChanged,
    ExamplesReload,
    Notice,
    QuarantineLoaded,
    UndoPreviewed,
)
from lightdom_tui.tui.widgets.curation import source as curation
from lightdom_tui.tui.widgets.curation.conversation import ConversationView
from lightdom_tui.tui.widgets.curation.filters import FilterBar, FilterState
from lightdom_tui.tui.widgets.curation.loop_actions import CurationLoopActions
from lightdom_tui.tui.widgets.curation.rows import header_text
from lightdom_tui.tui.widgets.curation.table import ExampleTable
from lightdom_tui.tui.widgets.pane import Pane

QUARANTINE_LIMIT = 500
DETAIL_DELAY_S = 0.12
NARROW_WIDTH = 100  # below this the conversation view gets a third of the width, not two fifths


class CurationPane(CurationLoopActions, Pane):
    """Review examples one key at a time; bulk actions apply to the whole filtered set."""

    LAZY = False  # the first pane: built at startup
    BINDINGS = [
        Binding("a", "approve", "Approve", id="curation.approve"),
        Binding("r", "reject", "Reject…", id="curation.reject"),
        Binding("e", "edit", "Edit", id="curation.edit"),
        Binding("u", "undo", "Undo", id="curation.undo"),
        Binding("n", "step(1)", "Next", id="curation.step_next", show=False),
        Binding("p", "step(-1)", "Prev", id="curation.step_prev", show=False),
        Binding("s", "cycle_status", "Status filter", id="curation.cycle_status"),
        Binding("slash", "search", "Search", id="curation.search"),
        Binding("f", "filters", "Filters", id="curation.filters", show=False),
        Binding("A", "bulk('approve')", "Approve all…", id="curation.bulk_approve"),
        Binding("R", "bulk('reject')", "Reject all…", id="curation.bulk_reject", show=False),
        Binding("b", "build_dataset", "Build dataset…", id="curation.build_dataset"),
        Binding("Q", "toggle_quarantine", "Quarantine", id="curation.quarantine"),
        Binding("i", "ingest", "Ingest…", id="curation.ingest"),
        Binding("D", "datasets", "Datasets", id="curation.datasets"),
        Binding("o", "rules", "Auto-rules…", id="curation.rules", show=False),
        Binding("d", "dedup", "Find paraphrases", id="curation.dedup", show=False),
        Binding("G", "toolgen", "Generate tool-use examples…", id="curation.toolgen", show=False),
        Binding("C", "cleanup", "Clean up quarantine / processed…", id="curation.cleanup", show=False),
        Binding("escape", "focus_table", "Back to the table", id="curation.focus_table", show=False),
    ]

    def __init__(self, workspace, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(workspace, **kwargs)
        self.filter_state = FilterState()
        self._detail_timer: Timer | None = None
        self._position_text = ""

    def compose_pane(self) -> ComposeResult:
        yield FilterBar(id="curation-filters")
        with ContentSwitcher(initial="curation-main", id="curation-switcher"):
            with Horizontal(id="curation-main"):
                with Vertical(id="examples-box") as box:
                    box.border_title = "examples"
                    yield Static(header_text(), id="examples-header")
                    yield ExampleTable(id="examples")
                yield ConversationView(id="conversation")
            with Vertical(id="quarantine-box") as box:
                box.border_title = "quarantine"
                yield DataTable(id="quarantine", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="curation-status"):
            yield Static("", id="curation-counters")
            yield Static("", id="examples-position")

    def on_built(self) -> None:
        # The position line follows the cursor in the same tick: through the Highlighted
        # message it changed a frame later, and every key paid for a second full render.
        self.table.cursor_moved = self._update_title
        self.table.set_source(self._source())
        self._load_counters()

    @property
    def table(self) -> ExampleTable:
        """The examples table."""
        return self.query_one("#examples", ExampleTable)

    def _source(self) -> curation.ExampleSource:
        return curation.ExampleSource(self.workspace, self.filter_state)

    def focus_main(self) -> None:
        if self.built:
            self.table.focus()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Approve example", "a", "approve"),
            ("Reject example…", "r: with a reason", "reject"),
            ("Edit example", "e: correct the conversation JSON", "edit"),
            ("Search examples", "/: text in the conversation", "search"),
            ("Status filter: next", "s: all → pending → approved → rejected", "cycle_status"),
            ("Filters", "f: status, task type, source, quality, sort", "filters"),
            ("Undo last curation action", "u", "undo"),
            ("Approve all filtered examples…", "A: bulk, with confirmation", "bulk('approve')"),
            ("Reject all filtered examples…", "R: bulk, with confirmation", "bulk('reject')"),
            ("Build dataset from the current filter…", "b", "build_dataset"),
            ("Show quarantine", "Q", "toggle_quarantine"),
            ("Ingest files or the inbox…", "i: count report, bad lines to the quarantine", "ingest"),
            ("Generate tool-use examples…", "G: from function definitions and scenario templates", "toolgen"),
            ("Apply auto-rules…", "o: approve/reject pending by thresholds (undoable)", "rules"),
            ("Find paraphrases (dedup)", "d: flag close paraphrases across all examples", "dedup"),
            ("Datasets: list, show, export", "D", "datasets"),
            ("Clean up old quarantine rows and processed files…", "C: never examples (lightdom cleanup)",
             "cleanup"),
        ]

    def refresh_data(self) -> None:
        if not self.built:
            return
        self.table.reload()
        self._load_counters()

    # ------------------------------------------------------------------ table events

    @on(FilterBar.Changed)
    def _filters_changed(self, event: FilterBar.Changed) -> None:
        self.filter_state = event.state
        self.table.set_source(self._source())
        self._update_title()

    @on(ExampleTable.Highlighted)
    def _highlighted(self, event: ExampleTable.Highlighted) -> None:
        # The detail view re-lays out the pane: render it once the cursor rests, not on every key.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        example = event.row.example if event.row else None
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, lambda: self._show_detail(example))
        self._update_title()

    def _show_detail(self, example: Any) -> None:
        self._detail_timer = None
        self.query_one(ConversationView).show(example)

    def on_resize(self, event: events.Resize) -> None:
        """Narrow windows give the table more of the width (its message column is what a reviewer reads)."""
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    @on(ExampleTable.ColumnsChanged)
    def _columns_changed(self, event: ExampleTable.ColumnsChanged) -> None:
        self.query_one("#examples-header", Static).update(header_text(event.columns))

    @on(ExampleTable.Counted)
    def _counted(self) -> None:
        self._update_title()

    def _update_title(self) -> None:
        table = self.table
        total = f"{table.total:,}" if table.total is not None else "counting…"
        position = f"{table.cursor + 1:,}" if table.total else "0"
        box = self.query_one("#examples-box")
        title = f"examples · {self.filter_state.describe()} · {total} rows"
        if box.border_title != title:  # each assignment repaints the whole box: only on a new filter/count
            box.border_title = title
        # The position changes on every key: a one-line Static repaints one line, not the box,
        # and only when its text changed (each update costs a render).
        text = f"row {position} of {total} · {table.rows_in_memory:,} in memory"
        if text != self._position_text:
            self._position_text = text
            self.query_one("#examples-position", Static).update(text, layout=False)

    # ------------------------------------------------------------------ single-key actions

    def action_step(self, delta: int) -> None:
        """Next / previous example."""
        self.table.action_move(delta)

    def action_focus_table(self) -> None:
        """Back to the table (from a filter box, or out of the quarantine list)."""
        switcher = self.query_one("#curation-switcher", ContentSwitcher)
        if switcher.current == "quarantine-box":
            switcher.current = "curation-main"
        self.table.focus()

    def action_search(self) -> None:
        """Focus the text search box."""
        self.query_one("#f-text").focus()

    def action_filters(self) -> None:
        """Focus the first filter."""
        self.query_one("#f-status").focus()

    def action_cycle_status(self) -> None:
        """All → pending → approved → rejected."""
        self.query_one(FilterBar).set_status(self.filter_state.next_status().status)

    def action_approve(self) -> None:
        """Approve the example under the cursor and move on."""
        row = self.table.current
        if row is not None:
            self._act("approve", [row.id], None)
            self.table.action_move(1)

    def action_reject(self) -> None:
        """Reject with a reason."""
        row = self.table.current
        if row is None:
            return
        self.app.prompt(  # type: ignore[attr-defined]
            f"Reason for rejecting #{row.id}", lambda reason: self._reject(row.id, reason), title="Reject"
        )

    def _reject(self, example_id: int, reason: str) -> None:
        if not reason.strip():
            self.notify("a rejection needs a reason: nothing changed", severity="warning")
            return
        self._act("reject", [example_id], reason.strip())
        self.table.action_move(1)

    def action_edit(self) -> None:
        """Edit the conversation JSON in an editor screen."""
        row = self.table.current
        if row is None:
            return
        from lightdom_tui.tui.screens.editor import EditorScreen

        original = row.example.messages_json

        def saved(text: str | None) -> None:
            if text is None:
                return
            if _same_json(text, original):  # not an error: the user looked and kept it
                self.notify(f"#{row.id} unchanged: nothing saved")
                return
            self._edit(row.id, text)

        self.app.push_screen(EditorScreen(row.example.messages_json, title=f"edit #{row.id}"), saved)

    @work(thread=True, group="curation-action", name="edit example", exit_on_error=False)
    def _edit(self, example_id: int, messages_text: str) -> None:
        new_id = curation.edit(self.workspace, example_id, messages_text)
        self.post_message(ExamplesReload(follow_id=example_id))
        self.post_message(Notice(f"#{example_id} corrected as #{new_id}"))

    def action_undo(self) -> None:
        """Revert the last curation action (one batch), saying which; one from before this session asks first."""
        self._preview_undo()

    @work(thread=True, group="curation-action", name="undo", exit_on_error=False)
    def _preview_undo(self) -> None:
        self.post_message(UndoPreviewed(curation.preview_undo(self.workspace)))

    def on_undo_previewed(self, message: UndoPreviewed) -> None:
        message.stop()
        preview = message.preview
        if preview is None:
            self.notify("nothing to undo")
            return
        started = getattr(self.app, "started_at", None)
        if started is not None and _naive(preview.created_at) < _naive(started):
            self.app.confirm(  # type: ignore[attr-defined]
                f"Undo {preview.describe()}? It was done before this session.", self._undo
            )
            return
        self._undo()

    @work(thread=True, group="curation-action", name="undo", exit_on_error=False)
    def _undo(self) -> None:
        preview = curation.preview_undo(self.workspace)
        changed = curation.undo(self.workspace)
        self.post_message(ExamplesReload())
        what = preview.describe() if preview is not None else "last action"
        self.post_message(Notice(f"undone: {what} ({changed:,} example(s) restored)"))

    @work(thread=True, group="curation-action", name="curation action", exit_on_error=False)
    def _act(self, action: str, ids: list[int], reason: str | None) -> None:
        self.post_message(ExamplesChanged(curation.act(self.workspace, action, ids, reason)))

    def action_bulk(self, action: str) -> None:
        """Approve / reject every example matching the filter, after confirmation."""
        total = self.table.total
        if not total:
            self.notify("nothing matches the filter")
            return
        question = f"{action.capitalize()} all {total:,} examples matching: {self.filter_state.describe()}?"

        def go() -> None:
            if action == "reject":
                self.app.prompt("Reason (applies to all)", lambda r: self._bulk(action, r or None),  # type: ignore[attr-defined]
                                title="Bulk reject")
            else:
                self._bulk(action, None)

        self.app.confirm(question, go)  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="curation-bulk", name="bulk action", exit_on_error=False)
    def _bulk(self, action: str, reason: str | None) -> None:
        count = curation.bulk(self.workspace, action, self.filter_state, reason)
        self.post_message(ExamplesReload())
        self.post_message(Notice(f"{action}: {count:,} example(s)"))

    def action_build_dataset(self) -> None:
        """Freeze the current filter as a dataset version (its size is checked before the name is asked)."""
        self._check_dataset(self.filter_state)

    @work(thread=True, exclusive=True, group="curation-dataset", name="build dataset", exit_on_error=False)
    def _check_dataset(self, state) -> None:  # noqa: ANN001
        self.post_message(DatasetChecked(curation.dataset_size(self.workspace, state), state.describe()))

    def on_dataset_checked(self, message: DatasetChecked) -> None:
        message.stop()
        where = message.description if self.filter_state.status else f"approved, {message.description}"
        if message.count == 0:
            self.notify(f"no examples to build a dataset from ({where}): approve some first", severity="warning")
            return

        def named(name: str) -> None:
            if not name.strip():
                self.notify("a dataset needs a name: nothing built", severity="warning")
                return
            self._build(name)

        self.app.prompt(  # type: ignore[attr-defined]
            f"Dataset name for {message.count:,} examples ({where})", named, title="Build dataset"
        )

    @work(thread=True, exclusive=True, group="curation-dataset", name="build dataset", exit_on_error=False)
    def _build(self, name: str) -> None:
        summary = curation.build(self.workspace, name.strip(), self.filter_state)
        self.post_message(Notice(summary))
        self.post_message(DataChanged("datasets"))

    def action_toggle_quarantine(self) -> None:
        """Switch between the examples and the quarantine list."""
        switcher = self.query_one("#curation-switcher", ContentSwitcher)
        if switcher.current == "quarantine-box":
            switcher.current = "curation-main"
            self.table.focus()
            return
        switcher.current = "quarantine-box"
        self.query_one("#quarantine", DataTable).focus()
        self._load_quarantine()

    @work(thread=True, exclusive=True, group="quarantine", name="load quarantine", exit_on_error=False)
    def _load_quarantine(self) -> None:
        self.post_message(QuarantineLoaded(*curation.quarantine(self.workspace, QUARANTINE_LIMIT)))

    @work(thread=True, exclusive=True, group="counters", name="count examples", exit_on_error=False)
    def _load_counters(self) -> None:
        overview = curation.overview(self.workspace)
        self.post_message(CountersLoaded(overview.text, overview.task_types, overview.sources))

    # ------------------------------------------------------------------ results

    def on_examples_changed(self, message: ExamplesChanged) -> None:
        message.stop()
        self.table.replace_examples(message.examples)
        self._load_counters()

    def on_examples_reload(self, message: ExamplesReload) -> None:
        message.stop()
        if not self.built:
            return
        self.table.reload(follow_id=message.follow_id)
        self._load_counters()

    def on_counters_loaded(self, message: CountersLoaded) -> None:
        message.stop()
        self.query_one("#curation-counters", Static).update(message.text, layout=False)
        if message.task_types is not None and message.sources is not None:
            self.query_one(FilterBar).set_values(message.task_types, message.sources)

    def on_quarantine_loaded(self, message: QuarantineLoaded) -> None:
        message.stop()
        self._show_quarantine(message.rows, message.total)

    def data_changed(self, area: str) -> None:
        """Other panes' writes that touch examples (suggestion decisions, imports) refresh the counters and rows."""
        if area == "examples":
            self.refresh_data()
        else:
            self._load_counters()  # cheap: one aggregate query

    def _show_quarantine(self, rows: list[Any], total: int) -> None:
        table = self.query_one("#quarantine", DataTable)
        table.clear(columns=True)
        table.add_columns("file", "line", "reason", "raw")
        for row in rows:
            table.add_row(row.file, str(row.line), row.reason, row.raw[:80], key=str(row.id))
        self.query_one("#quarantine-box").border_title = f"quarantine · showing {len(rows):,} of {total:,}"


def _same_json(text: str, original: str) -> bool:
    """True when the edited text is the same JSON as the stored messages."""
    import json

    try:
        return json.loads(text) == json.loads(original)
    except ValueError:
        return False


def _naive(moment):  # noqa: ANN001, ANN202
    """A UTC datetime without tzinfo (SQLite hands back naive ones)."""
    return moment.replace(tzinfo=None) if getattr(moment, "tzinfo", None) is not None else moment
