"""F1 / ? help: every binding of the app, its screens and panes, grouped by where it applies."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static


def _describe(binding: BindingType) -> tuple[str, str] | None:
    if isinstance(binding, Binding):
        keys, description = binding.key, binding.description or binding.action
    else:
        keys, description = binding[0], binding[2] if len(binding) > 2 else binding[1]
    return keys.replace(",", " / "), description


def collect_bindings(nodes: list[DOMNode | type]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, [(keys, description)]) per LightDom class among ``nodes`` (instances or classes)."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    seen: set[type] = set()
    for node in nodes:
        for cls in (node if isinstance(node, type) else type(node)).__mro__:
            if cls in seen or not cls.__module__.startswith("lightdom_tui"):
                continue
            seen.add(cls)
            own = cls.__dict__.get("BINDINGS") or []
            rows = [row for row in (_describe(b) for b in own) if row]
            if rows:
                title = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
                sections.append((f"{cls.__name__} — {title}", rows))
    return sections


def render_help(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """Rich markup text of the binding table."""
    lines = []
    for title, rows in sections:
        lines.append(f"[b]{title}[/b]")
        lines.extend(f"  [reverse] {keys} [/reverse]  {description}" for keys, description in rows)
        lines.append("")
    lines.append("[dim]ctrl+p opens the command palette: every main action by name.[/dim]")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Every key binding, generated from the widgets themselves (so it cannot go stale)."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "Close help", id="help.close")]

    def __init__(self, nodes: list[DOMNode | type]) -> None:
        super().__init__(classes="dialog-screen")
        self._sections = collect_bindings(nodes)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help-dialog") as box:
            box.border_title = "Keys"
            yield Static(render_help(self._sections), id="help-text")

    def action_close(self) -> None:
        """Close help."""
        self.dismiss(None)
