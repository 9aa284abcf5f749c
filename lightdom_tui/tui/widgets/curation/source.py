"""The curation pane's calls into the curation service (the same functions the CLI uses).

Each function here is one service call in one short session; the pane runs them
in thread workers. Nothing is computed here that the service does not compute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.tui.services import service
from lightdom_tui.tui.widgets.curation.filters import FilterState
from lightdom_tui.workspace import Workspace

REQUIRES = ("curation.query", "curation.examples")


def service_filter(state: FilterState) -> Any:
    """The curation service's ExampleFilter for what the filter bar shows."""
    query = service("curation.query")
    return query.ExampleFilter(
        status=state.status,
        task_type=state.task_type,
        source=state.source,
        min_quality=state.quality_min,
        max_quality=state.quality_max,
        text=state.text,
    )


@dataclass
class ExampleSource:
    """Keyset pages and the count of one filter (the table's RowSource)."""

    workspace: Workspace
    state: FilterState

    def count(self) -> int:
        """count_examples for the filter."""
        query = service("curation.query")
        with self.workspace.session() as session:
            return query.count_examples(session, service_filter(self.state))

    def page(self, after: Any, limit: int) -> tuple[list[Any], Any]:
        """One keyset page after ``after`` and the cursor after its last row."""
        query = service("curation.query")
        with self.workspace.session() as session:
            result = query.page(session, service_filter(self.state), after=after, limit=limit, sort=self.state.sort)
        return result.rows, result.next_after


def _examples(session: Any, ids: list[int]) -> list[Any]:
    examples = service("curation.examples")
    return [examples.get_example(session, example_id) for example_id in ids]


def act(workspace: Workspace, action: str, ids: list[int], reason: str | None) -> list[Any]:
    """approve / reject the examples; returns them as stored now."""
    actions = service("curation.actions")
    if action == "approve":
        actions.approve(workspace, ids)
    elif action == "reject":
        actions.reject(workspace, ids, reason or "")
    else:
        raise LightdomError(f"action: unknown {action!r}")
    with workspace.session() as session:
        return _examples(session, ids)


def edit(workspace: Workspace, example_id: int, messages_text: str) -> int:
    """Save edited messages (JSON text) as a correction; returns the new example's id."""
    try:
        messages = json.loads(messages_text)
    except ValueError as exc:
        raise LightdomError(f"example {example_id}: edited messages are not valid JSON: {exc}") from exc
    if not isinstance(messages, list):
        raise LightdomError(f"example {example_id}: edited messages must be a JSON list of messages")
    result = service("curation.actions").edit_example(workspace, example_id, messages)
    return int(result.new_example_id)


def undo(workspace: Workspace) -> int:
    """Revert the last action batch; returns how many examples it changed."""
    return int(service("curation.actions").undo_last(workspace).changed)


def bulk(workspace: Workspace, action: str, state: FilterState, reason: str | None) -> int:
    """approve / reject every example matching the filter; returns how many changed."""
    actions = service("curation.actions")
    f = service_filter(state)
    result = actions.approve(workspace, f) if action == "approve" else actions.reject(workspace, f, reason or "")
    return int(result.changed)


def build(workspace: Workspace, name: str, state: FilterState) -> str:
    """Build a dataset version from the filter; returns a one-line summary."""
    if not name:
        raise LightdomError("dataset name: must not be empty")
    datasets = service("curation.datasets")
    # Like `lightdom dataset build`: approved examples unless the filter names a status.
    dataset = datasets.build_dataset(workspace, name, status=state.status or "approved", filter=service_filter(state))
    return f"dataset {dataset.name}@{dataset.version}: {dataset.n_train} train, {dataset.n_validation} validation"


def counters(workspace: Workspace) -> str:
    """One line: pending / approved / rejected, duplicates, quarantined."""
    examples = service("curation.examples")
    with workspace.session() as session:
        stats = examples.example_stats(session)
    status = stats.by_status
    return (
        f"[yellow]pending {status.get('pending', 0):,}[/]  [green]approved {status.get('approved', 0):,}[/]  "
        f"[red]rejected {status.get('rejected', 0):,}[/]  duplicates {stats.near_duplicates:,}  "
        f"corrections {stats.corrections:,}  quarantined {stats.quarantined:,}  total {stats.total:,}"
    )


def quarantine(workspace: Workspace, limit: int) -> tuple[list[Any], int]:
    """The newest quarantined lines (capped) and how many there are."""
    module = service("curation.quarantine")
    with workspace.session() as session:
        return module.list_quarantine(session, limit=limit), module.count_quarantine(session)
