"""Typed messages that workers post back to the widgets (never touching widgets themselves).

One message class per kind of result, so a handler's name says what it receives
(``on_versions_loaded``) and the type checker sees the payload. Snapshots that
supersede each other (a newer list of the same thing) replace a queued older one.

``DataChanged`` is the refresh bus: a pane posts it after a write; the app passes
it to every built pane (and the status bar), each of which re-reads what it shows.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from lightdom_tui.usecases.status import StatusInfo


class Snapshot(Message):
    """A read result; a newer one of the same class (and key) replaces a queued older one."""

    key: Any = None

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self) and getattr(message, "key", None) == self.key


class StatusLoaded(Snapshot):
    """The status bar's facts, read in a worker."""

    def __init__(self, info: StatusInfo) -> None:
        super().__init__()
        self.info = info


class DataChanged(Message):
    """Something in the database changed (``area``: examples, datasets, runs, registry, deploy, campaigns)."""

    def __init__(self, area: str) -> None:
        super().__init__()
        self.area = area


class Notice(Message):
    """A one-line notification for the user (a worker finished something)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


# --------------------------------------------------------------------------- registry pane


class VersionsLoaded(Snapshot):
    """Every model version (``ModelSummary`` rows)."""

    def __init__(self, models: list[Any]) -> None:
        super().__init__()
        self.models = models


class VersionDetailLoaded(Snapshot):
    """The detail panel's text (a version's lineage, or a comparison)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RegistryOpsLoaded(Snapshot):
    """The side panel's text: deployments, A/B tests, alerts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ExportProgress(Snapshot):
    """An export's current stage and fraction done."""

    def __init__(self, stage: str, fraction: float) -> None:
        super().__init__()
        self.stage = stage
        self.fraction = fraction


class RegistryActionDone(Message):
    """A registry write finished (export, promote, rollback, deploy, evaluate, A/B, alerts)."""

    def __init__(self, text: str, area: str = "registry") -> None:
        super().__init__()
        self.text = text
        self.area = area


# --------------------------------------------------------------------------- training pane


class RunsLoaded(Snapshot):
    """Training runs, newest first (``RunSummary`` rows)."""

    def __init__(self, runs: list[Any]) -> None:
        super().__init__()
        self.runs = runs


class TrainingPlanned(Message):
    """The pre-check of a run the user asked for (``usecases.training.TrainingPlan``) and how it is to be
    launched: in this process, or through ``accelerate launch`` with ``processes`` (None: one per GPU)."""

    def __init__(self, plan: Any, *, accelerate: bool = False, processes: int | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.accelerate = accelerate
        self.processes = processes


class TrainingFinished(Message):
    """A run (started or resumed here) ended; ``text`` says how and what to run next."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# --------------------------------------------------------------------------- campaign pane


class ChildrenLoaded(Message):
    """The children of one tree node."""

    def __init__(self, node: Any, children: list[Any]) -> None:
        super().__init__()
        self.node = node
        self.children = children


class NodeLoaded(Snapshot):
    """The selected node's row (``usecases.campaign.NodeRow``)."""

    def __init__(self, ref: Any, row: Any) -> None:
        super().__init__()
        self.ref = ref
        self.row = row


class SuggestionsLoaded(Snapshot):
    """A data stream's pending suggestions."""

    def __init__(self, datastream_id: int, rows: list[Any]) -> None:
        super().__init__()
        self.datastream_id = datastream_id
        self.rows = rows


class WorkflowLogLoaded(Snapshot):
    """The log lines of a workflow's latest run."""

    def __init__(self, workflow_id: int, lines: list[str]) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.lines = lines


class DecisionRequested(Message):
    """The suggestions table asks the pane to accept / edit / reject one suggestion."""

    def __init__(self, decision: str, suggestion_id: int) -> None:
        super().__init__()
        self.decision = decision
        self.suggestion_id = suggestion_id


class NodeChanged(Message):
    """A node under ``parent`` was created, changed or deleted; ``ref`` is the node to select (or None)."""

    def __init__(self, parent: Any, ref: Any) -> None:
        super().__init__()
        self.parent = parent
        self.ref = ref


class DeleteNeedsConfirmation(Message):
    """A node has children: ask before deleting them (``counts`` per kind)."""

    def __init__(self, ref: Any, counts: dict[str, int]) -> None:
        super().__init__()
        self.ref = ref
        self.counts = counts


class WorkflowRunFinished(Message):
    """A workflow run started here ended."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# --------------------------------------------------------------------------- curation pane


class ExamplesChanged(Message):
    """These examples were decided; the table shows them as stored now."""

    def __init__(self, examples: list[Any]) -> None:
        super().__init__()
        self.examples = examples


class ExamplesReload(Message):
    """Many examples changed (bulk, undo, correction): the table re-reads its pages.

    ``follow_id``: the example the cursor should stay on (a correction inserts a row above it
    in some sorts; keeping the row index would move the cursor to another example).
    """

    def __init__(self, follow_id: int | None = None) -> None:
        super().__init__()
        self.follow_id = follow_id


class CountersLoaded(Snapshot):
    """The curation counters line (and the task types and sources that exist, for the filters)."""

    def __init__(self, text: str, task_types: list[str] | None = None, sources: list[str] | None = None) -> None:
        super().__init__()
        self.text = text
        self.task_types = task_types
        self.sources = sources


class UndoPreviewed(Message):
    """What ``u`` would revert (``usecases.curation.UndoPreview`` or None)."""

    def __init__(self, preview: Any) -> None:
        super().__init__()
        self.preview = preview


class QuarantineLoaded(Snapshot):
    """The newest quarantined lines and how many there are."""

    def __init__(self, rows: list[Any], total: int) -> None:
        super().__init__()
        self.rows = rows
        self.total = total


class DatasetChecked(Message):
    """How many examples a dataset built from the current filter would hold (asked before its name)."""

    def __init__(self, count: int, description: str) -> None:
        super().__init__()
        self.count = count
        self.description = description


class TrainingChoicesLoaded(Message):
    """The dataset versions and presets the training form offers (``usecases.training.TrainingChoices``)."""

    def __init__(self, choices: Any) -> None:
        super().__init__()
        self.choices = choices
