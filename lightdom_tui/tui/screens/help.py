"""F1 / ? help: what each key does, the pane you are in first, with the keys as you type them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True)
class HelpSection:
    """A titled group of keys: where they apply (a human title) and the class that declares them."""

    title: str
    owner: type


def _bindings(owner: type) -> list[Binding]:
    own: list[BindingType] = list(owner.__dict__.get("BINDINGS") or [])
    return [b if isinstance(b, Binding) else Binding(*b) for b in own]


def section_rows(
    owner: type, key_display: Callable[[str], str], keymap: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(keys as shown, what they do) for the bindings ``owner`` declares; ``keymap`` overrides by binding id."""
    rows = []
    for binding in _bindings(owner):
        keys = (keymap or {}).get(binding.id or "", binding.key)
        shown = " / ".join(key_display(key.strip()) for key in keys.split(",") if key.strip())
        rows.append((shown, f"{binding.description or binding.action}  [dim]{binding.id or ''}[/dim]"))
    return rows


def render_help(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """Rich markup text of the key table."""
    lines = []
    for title, rows in sections:
        if not rows:
            continue
        lines.append(f"[b]{title}[/b]")
        lines.extend(f"  [reverse] {keys} [/reverse]  {description}" for keys, description in rows)
        lines.append("")
    lines.append("[dim]ctrl+p opens the command palette: every action by name. "
                 "Keys can be changed in lightdom.toml under [keymap] (binding id = \"key\").[/dim]")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Every key, generated from the widgets' own bindings (so it cannot go stale)."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "Close help", id="help.close")]

    def __init__(self, sections: list[HelpSection], keymap: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self._help_sections = sections
        self._keymap = dict(keymap or {})

    def _key_display(self, key: str) -> str:
        return self.app.get_key_display(Binding(key, ""))

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(title, rows) per section, in the order given."""
        return [(s.title, section_rows(s.owner, self._key_display, self._keymap)) for s in self._help_sections]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help-dialog") as box:
            box.border_title = "Keys"
            yield Static(render_help(self.sections()), id="help-text")

    def action_close(self) -> None:
        """Close help."""
        self.dismiss(None)
