"""A compact footer that shows only the keys that fit, so nothing is cut mid-word.

Textual's footer lays every shown binding side by side and clips the row at the
window's edge (at 80 columns: ``f2 Setti▏^p Commands``). This one keeps the keys
that fit whole: help and the command palette always, then the pane's keys in the
order they are declared, then the app's. F1 lists every key.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

ALWAYS = ("help", "command_palette", "quit")  # actions shown whatever the width
GAP = 1  # the compact footer's space between keys


def key_width(key: FooterKey) -> int:
    """Cells a compact key takes: "KEY DESCRIPTION" and a gap."""
    description = f" {key.description}" if key.description else ""
    return len(key.key_display) + len(description) + GAP


def fit_keys(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """The keys to show in ``width`` cells: the ALWAYS ones, then the others in order while they fit."""
    budget = width - sum(key_width(key) for key in keys if key.action in ALWAYS)
    kept: set[int] = {id(key) for key in keys if key.action in ALWAYS}
    for key in keys:
        if id(key) in kept:
            continue
        if key_width(key) <= budget:
            kept.add(id(key))
            budget -= key_width(key)
        else:
            budget = -1  # stop at the first that does not fit: keep the declared order readable
    return [key for key in keys if id(key) in kept]


class KeyFooter(Footer):
    """The footer, trimmed to the keys that fit the window's width."""

    # Textual draws a thin bar left of the palette key: at 80 columns it read as a stray "▏".
    DEFAULT_CSS = """
    KeyFooter FooterKey.-command-palette {
        border-left: none;
    }
    """

    def compose(self) -> ComposeResult:
        widgets: list[Widget] = list(super().compose())
        keys = [widget for widget in widgets if isinstance(widget, FooterKey)]
        if len(keys) != len(widgets):  # grouped keys (none here yet): leave Textual's layout alone
            yield from widgets
            return
        shown = fit_keys(keys, self.app.size.width)
        self.styles.grid_size_columns = max(1, sum(1 for key in shown if not key.has_class("-command-palette")))
        yield from shown

    def on_resize(self, event: events.Resize) -> None:
        """A new width may fit more or fewer keys."""
        if self._bindings_ready:
            self.call_after_refresh(self.recompose)
