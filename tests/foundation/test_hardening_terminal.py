"""Data on its way to a terminal or a log: escape sequences and markup neutralised, secrets masked before cuts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from sqlmodel import update

from lightdom_tui.errors import LightdomError
from lightdom_tui.redact import clip, mask_secrets
from lightdom_tui.safetext import markup_safe, one_line, strip_controls
from tests.foundation.test_hardening_cli import invoke

HOSTILE = "[link=https://evil.example]go[/link] \x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil [bold]x[/]"
FORBIDDEN = [chr(c) for c in (*range(0, 9), *range(11, 32), *range(127, 160))] + ["\u202e", "\u2066"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.sampled_from([HOSTILE, "\\", "[/]", "[", "x\\[b]y", "\x1b", "\x1b]8;;u\x1b\\t"])))
def test_strip_and_escape_leave_only_visible_text(text: str) -> None:
    clean = strip_controls(text)
    assert not any(c in clean for c in FORBIDDEN)
    # Data sits inside a renderer's own markup: it shows as the text it is, and the markup around it holds.
    assert Text.from_markup(f"[bold]{markup_safe(text)}[/bold]", emoji=False).plain == clean
    assert "\n" not in one_line(text)


@pytest.fixture()
def hostile_example(workspace):  # noqa: ANN001, ANN201
    """An example whose text, task type and source carry markup and escape sequences, as stored."""
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.db.models import Example

    with workspace.session() as session:
        example = add_example(session, [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}],
                              task_type="chat", source="s")
        messages = [{"role": "user", "content": HOSTILE}, {"role": "assistant", "content": "ok"}]
        session.exec(update(Example).where(Example.id == example.id).values(  # as an older import stored it
            messages_json=json.dumps(messages), task_type="t\x1b[2J", source="[link=https://x.example]s[/link]"))
    return workspace


def test_examples_list_shows_markup_as_text_not_escape_sequences(hostile_example, monkeypatch) -> None:  # noqa: ANN001
    from lightdom_tui.commands import _common

    # A real terminal console: styles are emitted, so a link or a title change would be too.
    terminal = _common.SafeConsole(force_terminal=True, width=200, color_system="truecolor")
    monkeypatch.setattr(_common, "console", terminal)
    result = invoke("examples", "list", home=hostile_example.root)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for sequence in ("\x1b]0;", "\x1b[2J", "\x1b]8;", "\x07", "\x9b", "\u202e"):
        assert sequence not in out, repr(sequence)
    assert "[link=https://evil.example]go" in out and "[link=https://x.example]s" in out  # shown, not obeyed
    assert "]0;pwned" not in out  # the whole sequence went, not just its ESC

    shown = invoke("examples", "show", "1", home=hostile_example.root)  # the default JSON view of a result
    assert shown.exit_code == 0 and "[link=https://evil.example]go" in shown.stdout, shown.stderr
    assert not any(sequence in shown.stdout for sequence in ("\x1b]0;", "\x1b[2J", "\x9b", "\u202e"))

    as_json = invoke("examples", "list", "--json", home=hostile_example.root)
    raw = as_json.stdout
    assert "\x1b" not in raw and "\x9b" not in raw and "\u202e" not in raw
    assert json.loads(raw)["examples"][0]["preview"].startswith("[link=https://evil.example]go")  # data intact


def test_tui_curation_cells_carry_no_control_characters(hostile_example) -> None:  # noqa: ANN001
    from sqlmodel import select

    from lightdom_tui.db.models import Example
    from lightdom_tui.tui.widgets.curation.rows import row_cells, row_view

    with hostile_example.session() as session:
        example = session.exec(select(Example).where(Example.source.startswith("[link"))).one()
    cells = row_cells(row_view(example))  # what the table's render_line turns into segments
    text = "".join(cell for cell, _ in cells)
    assert not any(c in text for c in FORBIDDEN)
    assert "[link=https://evil.example]go" in text  # segments are literal: markup stays visible text


def test_tui_detail_panels_show_imported_names_as_text() -> None:
    """Campaign node and dataset details are markup: names and task types from data stay literal."""
    from lightdom_tui.tui.screens.datasets import detail_text
    from lightdom_tui.tui.widgets.campaign.nodes import NodeRef, describe

    hostile = "[link=https://evil.example]go[/link] \x1b]0;title\x07[/]"
    node = Text.from_markup(describe(NodeRef("campaign", 1, "x"), {"name": hostile, "description": hostile,
                                                             "status": "active"}))
    assert node.plain.count("[link=https://evil.example]go[/link]") == 2 and not node.spans[1:]
    assert not any(c in node.plain for c in FORBIDDEN)
    dataset = Text.from_markup(detail_text({
        "ref": "d@1", "id": 1, "created_at": "2026-11-30T00:00:00", "n_train": 1, "n_validation": 0,
        "split": 0.8, "seed": 0, "manifest_hash": None, "rules": {"task_type": hostile},
        "prompts": {hostile: {}}}))
    assert dataset.plain.count("[link=https://evil.example]go[/link]") == 2
    assert not any(c in dataset.plain for c in FORBIDDEN)


KEY = "sk-" + "0123456789abcdef" * 2


@pytest.mark.parametrize("cut", [120, 160, 200])
def test_a_key_across_the_cut_is_masked_whole(cut: int) -> None:
    for offset in range(-len(KEY), 4):
        text = "x" * (cut + offset) + KEY + " tail"
        shown = clip(text, cut, [KEY])
        assert len(shown) <= cut and KEY[:6] not in shown, (offset, shown[-40:])
    assert mask_secrets(f"a {KEY} b {KEY}", [KEY, None, ""]) == "a *** b ***"


@pytest.fixture()
def echoing_api() -> Iterator[str]:
    """A real OpenAI-compatible endpoint on loopback that echoes the Authorization key inside its errors."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, body = (400, "e" * 190 + key + " was rejected") if "400" in self.path else (200, "m" * 110 + key)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/status400/v1", "/malformed/v1"])
def test_remote_errors_never_carry_the_key(echoing_api: str, path: str) -> None:
    from lightdom_tui.serving.remote import RemoteEngine
    from lightdom_tui.settings import ServingSettings

    engine = RemoteEngine(ServingSettings(remote_base_url=echoing_api + path, remote_retries=0), api_key=KEY)
    with pytest.raises(LightdomError) as caught:
        engine.chat([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0)
    message = str(caught.value)
    assert KEY[:6] not in message and ("***" in message or "…" in message), message
