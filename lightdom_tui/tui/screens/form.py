"""A small form: labelled inputs and closed lists, returned as a dict of text (services validate and name bad fields)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

PREVIEW_DELAY_S = 0.4  # recompute the preview once typing pauses


@dataclass(frozen=True)
class FormField:
    """One field of a form; with ``choices`` it is a closed list (a Select), not free text."""

    key: str
    label: str
    value: str = ""
    placeholder: str = ""
    choices: tuple[str, ...] | None = None


class FormScreen(ModalScreen[dict[str, str] | None]):
    """Fill in the fields; enter moves to the next field and submits on the last, ctrl+s submits, escape cancels.

    Tab and enter are priority bindings: the app moves the focus before it hands the next
    key to a widget, so keys typed right after them land in the next field (without that,
    a fast typist's "Spring shop<tab>Product pages" all went into the first field).
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("tab", "move(1)", "Next field", id="form.next", priority=True, show=False),
        Binding("shift+tab", "move(-1)", "Previous field", id="form.previous", priority=True, show=False),
        Binding("enter", "enter", "Next field / submit", id="form.enter", priority=True, show=False),
    ]

    def __init__(self, title: str, fields: list[FormField], *, note: str = "",
                 preview: Callable[[dict[str, str]], str] | None = None) -> None:
        """``preview``: values → a line shown under the fields before submitting (run in a thread as
        the values change, e.g. the training run's memory estimate)."""
        super().__init__(classes="dialog-screen")
        self._title = title
        self._fields = fields
        self._note = note
        self._preview = preview
        self._preview_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form-dialog") as box:
            box.border_title = f"{self._title} (enter next · ctrl+s submit · escape cancel)"
            if self._note:
                yield Static(self._note, classes="dialog-text")
            if self._preview is not None:  # above the fields: a long form scrolls, the estimate stays in view
                yield Static("[dim]estimating…[/dim]", id="form-preview", classes="dialog-text")
            for item in self._fields:
                with Horizontal(classes="form-row"):
                    yield Label(item.label, classes="form-label")
                    if item.choices is not None:
                        choices = list(item.choices)
                        if item.value and item.value not in choices:  # a stored value outside the list stays visible
                            choices.insert(0, item.value)
                        yield Select([(c, c) for c in choices], value=item.value if item.value else Select.NULL,
                                     prompt=item.placeholder or "choose…", id=f"form-{item.key}",
                                     classes="form-input", compact=True)
                    else:
                        yield Input(item.value, placeholder=item.placeholder, id=f"form-{item.key}",
                                    classes="form-input", select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one(f"#form-{self._fields[0].key}").focus()
        if self._preview is not None:
            self._run_preview()

    @on(Input.Changed)
    @on(Select.Changed)
    def _values_changed(self) -> None:
        if self._preview is None or not self.is_mounted:
            return
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY_S, self._run_preview)

    def _run_preview(self) -> None:
        preview, values = self._preview, self.values()
        assert preview is not None

        def work() -> None:
            try:
                text = preview(values)
            except Exception as exc:  # noqa: BLE001 - a preview says what is wrong, it never closes the form
                from rich.markup import escape

                from lightdom_tui.errors import LightdomError

                shown = str(exc) if isinstance(exc, LightdomError) else f"{type(exc).__name__}: {exc}"
                text = f"[red]{escape(shown)}[/red]"
            self.app.call_from_thread(self._show_preview, text)

        self.query_one("#form-preview", Static).update("[dim]estimating…[/dim]")
        self.run_worker(work, thread=True, exclusive=True, group="form-preview", name="form preview",
                        exit_on_error=False)

    def _show_preview(self, text: str) -> None:
        if self.is_attached:
            self.query_one("#form-preview", Static).update(text)

    def values(self) -> dict[str, str]:
        """The text of every field (a closed list left blank is "")."""
        values = {}
        for item in self._fields:
            widget = self.query_one(f"#form-{item.key}")
            if isinstance(widget, Select):
                values[item.key] = widget.value if isinstance(widget.value, str) else ""
            else:
                values[item.key] = widget.value  # type: ignore[attr-defined]
        return values

    def _field_index(self) -> int | None:
        focused = self.focused
        keys = [f"form-{item.key}" for item in self._fields]
        return keys.index(focused.id) if focused is not None and focused.id in keys else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enter belongs to an open list or a Select (to open it); tab and enter act only on this form's fields."""
        if action in ("move", "enter"):
            focused = self.focused
            if focused is None or self._field_index() is None:
                return False
            if action == "enter" and isinstance(focused, Select):
                return False
        return True

    def action_move(self, delta: int) -> None:
        """Focus the next (or previous) field."""
        if delta > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def action_enter(self) -> None:
        """Enter in a text field: the next field, or submit on the last one."""
        if self._field_index() == len(self._fields) - 1:
            self.action_submit()
        else:
            self.focus_next()

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        """A choice made: on to the next field, as enter does in a text field."""
        if event.select.has_focus and self._field_index() != len(self._fields) - 1:
            self.focus_next()

    def action_submit(self) -> None:
        """Return the values."""
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)
