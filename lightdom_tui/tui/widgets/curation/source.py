"""The curation pane's calls into the curation use cases (the same ones the CLI uses).

Each function here is one use case call; the pane runs them in thread workers.
Nothing is computed here that the use case does not compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightdom_tui.tui.widgets.curation.filters import FilterState
from lightdom_tui.usecases import curation as uc
from lightdom_tui.workspace import Workspace


def selection(state: FilterState) -> uc.ExampleSelection:
    """The use cases' selection for what the filter bar shows."""
    return uc.ExampleSelection(status=state.status, task_type=state.task_type, source=state.source,
                               min_quality=state.quality_min, max_quality=state.quality_max, text=state.text)


@dataclass
class ExampleSource:
    """Keyset pages and the count of one filter (the table's RowSource)."""

    workspace: Workspace
    state: FilterState

    def count(self) -> int:
        """How many examples the filter matches."""
        return uc.count_examples(self.workspace, selection(self.state))

    def page(self, after: Any, limit: int) -> tuple[list[Any], Any]:
        """One keyset page after ``after`` and the cursor after its last row."""
        result = uc.page_examples(self.workspace, selection(self.state), after=after, limit=limit,
                                  sort=self.state.sort)
        return result.rows, result.next_after


def act(workspace: Workspace, action: str, ids: list[int], reason: str | None) -> list[Any]:
    """approve / reject the examples; returns them as stored now."""
    return uc.decide_examples(workspace, action, ids, reason, reread=True).examples or []


def edit(workspace: Workspace, example_id: int, messages_text: str) -> int:
    """Save edited messages (JSON text) as a correction; returns the new example's id."""
    done = uc.correct_example(workspace, uc.Correction(example_id, messages_text=messages_text))
    assert done.new_example_id is not None
    return done.new_example_id


def undo(workspace: Workspace) -> int:
    """Revert the last action batch; returns how many examples it changed."""
    return uc.undo_last(workspace).changed


def bulk(workspace: Workspace, action: str, state: FilterState, reason: str | None) -> int:
    """approve / reject every example matching the filter; returns how many changed."""
    return uc.decide_examples(workspace, action, selection(state), reason).changed


def build(workspace: Workspace, name: str, state: FilterState) -> str:
    """Build a dataset version from the filter; returns a one-line summary."""
    data = uc.build_dataset(workspace, uc.DatasetSpec(name, selection(state)))
    return f"dataset {data['ref']}: {data['n_train']} train, {data['n_validation']} validation"


@dataclass
class Overview:
    """The counters line and the task types and sources that exist (the filter bar offers those)."""

    text: str
    task_types: list[str]
    sources: list[str]


def overview(workspace: Workspace) -> Overview:
    """Counters and filter values from one pass of the curation statistics."""
    stats = uc.example_stats(workspace)
    return Overview(uc.format_counters(stats), sorted(stats.by_task_type), sorted(stats.by_source))


def preview_undo(workspace: Workspace) -> uc.UndoPreview | None:
    """What ``u`` would revert now."""
    return uc.preview_undo(workspace)


def quarantine(workspace: Workspace, limit: int) -> tuple[list[Any], int]:
    """The newest quarantined lines (capped) and how many there are."""
    page = uc.quarantine(workspace, limit=limit)
    return page.rows, page.total


def dataset_size(workspace: Workspace, state: FilterState) -> int:
    """How many examples ``build`` would freeze from this filter (approved ones unless a status is chosen)."""
    chosen = selection(state)
    if chosen.status is None:  # as build_dataset: approved unless the filter names a status
        from dataclasses import replace

        chosen = replace(chosen, status="approved")
    return uc.count_examples(workspace, chosen)
