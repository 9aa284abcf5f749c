"""Detail view: a conversation rendered role by role, tool calls and results as highlighted JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from lightdom_tui.safetext import strip_controls

ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def _json_block(value: Any, theme: str) -> Syntax:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return Syntax(value, "text", theme=theme, word_wrap=True, background_color="default")
    return Syntax(
        json.dumps(value, indent=2, ensure_ascii=False), "json", theme=theme, word_wrap=True,
        background_color="default",
    )


def _content(message: dict[str, Any], theme: str) -> list[RenderableType]:
    parts: list[RenderableType] = []
    content = message.get("content")
    if message.get("role") == "tool" and isinstance(content, str):
        parts.append(_json_block(content, theme))  # tool results are usually JSON
    elif isinstance(content, str):
        stripped = content.strip()
        parts.append(_json_block(stripped, theme) if stripped[:1] in "{[" and _is_json(stripped) else Text(strip_controls(content)))
    elif content is not None:
        parts.append(_json_block(content, theme))
    for call in message.get("tool_calls") or []:
        function = call.get("function", call) if isinstance(call, dict) else {}
        name = function.get("name", "?")
        parts.append(Text(f"→ tool call {strip_controls(str(name))}", style="bold yellow"))
        parts.append(_json_block(function.get("arguments", {}), theme))
    return parts


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def render_conversation(messages_json: str, *, dark: bool = True) -> RenderableType:
    """A panel per message: role as title, text as is, JSON pretty-printed and highlighted."""
    theme = "monokai" if dark else "default"
    try:
        messages = json.loads(messages_json)
    except (TypeError, ValueError) as exc:
        return Text(f"messages are not valid JSON: {exc}", style="red")
    panels = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", "?"))
        title = role + (f" · {message['name']}" if message.get("name") else "")
        panels.append(
            Panel(Group(*_content(message, theme)), title=Text(strip_controls(title)), title_align="left",
                  border_style=ROLE_STYLE.get(role, "white"))
        )
    return Group(*panels)


class ConversationView(VerticalScroll, can_focus=False):
    """The selected example: metadata line plus its conversation."""

    def compose(self):  # noqa: ANN201
        yield Static("", id="conversation-meta")
        yield Static("", id="conversation-body")

    def show(self, example: Any | None) -> None:
        """Render ``example`` (an Example row) or clear."""
        meta = self.query_one("#conversation-meta", Static)
        body = self.query_one("#conversation-body", Static)
        if example is None:
            meta.update("[dim]no example selected[/dim]", layout=False)
            body.update("")
            return
        quality = f"{example.quality_score:.2f}" if example.quality_score is not None else "–"
        reason = f" · reason: {example.reject_reason}" if example.reject_reason else ""
        meta.update(
            Text.assemble(
                (f"#{example.id} ", "bold"), (example.status, "bold"),
                f" · {example.task_type} · {example.source} · quality {quality}{reason}",
            ),
            layout=False,
        )
        body.update(render_conversation(example.messages_json, dark=self.app.current_theme.dark))
        self.scroll_home(animate=False)
