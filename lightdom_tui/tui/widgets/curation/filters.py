"""Filter bar of the curation pane: status, task type, source, quality range, text, sort."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from lightdom_tui.errors import LightdomError
from lightdom_tui.usecases.options import parse_float_option

STATUSES = ("pending", "approved", "rejected")
SORTS = (("id ↑", "id"), ("id ↓", "-id"), ("quality ↓", "-quality_score"), ("quality ↑", "quality_score"))


@dataclass(frozen=True)
class FilterState:
    """What the user asked to see (turned into the curation service's ExampleFilter)."""

    status: str | None = None
    task_type: str | None = None
    source: str | None = None
    quality_min: float | None = None
    quality_max: float | None = None
    text: str | None = None
    sort: str = "id"

    def next_status(self) -> FilterState:
        """Cycle all → pending → approved → rejected → all (the `s` key)."""
        order = (None, *STATUSES)
        return replace(self, status=order[(order.index(self.status) + 1) % len(order)])

    def describe(self) -> str:
        """Short human text of the active filters."""
        # the operator is part of the label: "q≥0.9", never "q≥=0.9"
        parts = [f"{label}{value}" for label, value in (
            ("status=", self.status), ("task=", self.task_type), ("source=", self.source),
            ("q≥", self.quality_min), ("q≤", self.quality_max), ("text=", self.text),
        ) if value not in (None, "")]
        return ", ".join(parts) or "all examples"


def _chosen(value: object) -> str | None:
    """A Select's value as text, None for its blank."""
    return value if isinstance(value, str) else None


class FilterBar(Horizontal):
    """Inputs for every filter; enter in a text box or a new select value applies them."""

    class Changed(Message):
        """The filters changed."""

        def __init__(self, state: FilterState) -> None:
            super().__init__()
            self.state = state

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.state = FilterState()

    def compose(self) -> ComposeResult:
        yield Select([(s, s) for s in STATUSES], prompt="any status", id="f-status", compact=True)
        # closed lists: the task types and sources that exist (set_values fills them in)
        yield Select([], prompt="any task", id="f-task", compact=True)
        yield Select([], prompt="any source", id="f-source", compact=True)
        yield Input(placeholder="q min", id="f-qmin", compact=True, classes="f-num")
        yield Input(placeholder="q max", id="f-qmax", compact=True, classes="f-num")
        yield Input(placeholder="/ search text", id="f-text", compact=True)
        yield Select(list(SORTS), value="id", allow_blank=False, id="f-sort", compact=True)

    def read(self) -> FilterState:
        """The filters as currently typed."""
        status = self.query_one("#f-status", Select).value
        sort = self.query_one("#f-sort", Select).value
        return FilterState(
            status=status if isinstance(status, str) else None,
            task_type=_chosen(self.query_one("#f-task", Select).value),
            source=_chosen(self.query_one("#f-source", Select).value),
            quality_min=self._bound("#f-qmin", "q min"),
            quality_max=self._bound("#f-qmax", "q max"),
            text=self.query_one("#f-text", Input).value.strip() or None,
            sort=sort if isinstance(sort, str) else "id",
        )

    def _bound(self, selector: str, label: str) -> float | None:
        """A quality bound as typed; one that is not a number is said and left out (the other filters apply)."""
        try:
            return parse_float_option(self.query_one(selector, Input).value, label)
        except LightdomError as exc:
            self.notify(f"{exc}: ignored", severity="warning", markup=False)
            return None

    def set_values(self, task_types: list[str], sources: list[str]) -> None:
        """Offer the task types and sources that exist; a chosen value that still exists stays chosen."""
        for selector, values in (("#f-task", task_types), ("#f-source", sources)):
            select = self.query_one(selector, Select)
            current = select.value
            options = [(value, value) for value in values]
            if [value for _, value in select._options if isinstance(value, str)] == values:
                continue
            with self.prevent(Select.Changed):
                select.set_options(options)
                if isinstance(current, str) and current in values:
                    select.value = current

    def set_status(self, status: str | None) -> None:
        """Set the status select (the `s` key) and apply."""
        select = self.query_one("#f-status", Select)
        with self.prevent(Select.Changed):
            select.value = status if status else Select.NULL
        self._apply()

    @on(Input.Submitted)
    @on(Select.Changed)
    def _apply(self) -> None:
        state = self.read()
        if state != self.state:
            self.state = state
            self.post_message(self.Changed(state))
