"""Text from data on its way to a terminal: escape sequences and control characters out.

Example text, file names and error messages come from users and imported files. Written
raw to a terminal, ``\\x1b]0;…\\x07`` retitles the window, ``\\x1b[2J`` clears the screen, and
Rich markup such as ``[link=…]`` turns into a clickable link. Every face that shows data
goes through :func:`strip_controls` (literal sinks: Rich ``Text``, Textual segments) or
:func:`markup_safe` (sinks that parse Rich markup: ``console.print`` strings, table cells).
"""

from __future__ import annotations

import re

# Whole sequences go, not just their ESC byte, so no "]0;title" debris is left behind.
_CONTROLS = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?              # CSI: ESC [ params intermediates final
    | \x1b[]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC / DCS / SOS / PM / APC strings
    | \x1b[ -/]*[0-~]?                      # other escapes (charset, keypad, reset …) or a lone ESC
    | \x9b[0-?]*[ -/]*[@-~]?                # 8-bit CSI
    | [\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x9c)?   # 8-bit OSC / DCS / SOS / PM / APC
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]         # every other C0 / C1 control (tab and newline kept)
    | [\u200e\u200f\u202a-\u202e\u2066-\u2069]   # bidi overrides: text that reads other than it is
    """,
    re.VERBOSE,
)
_WHITESPACE = re.compile(r"\s+")


def strip_controls(text: str) -> str:
    """``text`` without escape sequences, control characters (tab and newline kept) or bidi overrides."""
    return _CONTROLS.sub("", text)


def one_line(text: str) -> str:
    """``text`` safe for a terminal and on one line (runs of whitespace, newlines included, become one space)."""
    return _WHITESPACE.sub(" ", strip_controls(text)).strip()


def markup_safe(value: object) -> str:
    """``value`` as text for a Rich sink that parses markup: controls stripped, markup escaped.

    ``Text.from_markup(markup_safe(s)).plain == strip_controls(str(s))`` for every string.
    """
    from rich.markup import escape

    return escape(strip_controls(str(value)))
