"""Extract attribute values: CSS selectors over HTML (selectolax/lexbor), JSON paths over JSON.

HTML selectors are CSS with an optional ``@attr`` suffix to read an attribute instead
of the text: ``h1``, ``meta[name=description]@content``, ``a.next@href``. An attribute
of type ``array`` takes every match; other types take the first.

JSON paths are a small dotted/indexed subset of JSONPath: ``$.items[0].name``,
``data.tags[*]``, ``$['odd key'].value``. ``[*]``/``.*`` fan out and give a list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.fetch import JSON_SUFFIXES, FetchResult, read_local

_ATTR_SUFFIX = re.compile(r"^(?P<css>.+?)@(?P<attr>[A-Za-z_:][-A-Za-z0-9_:.]*)$")
_TOKEN = re.compile(r"""\.(?P<key>[^.\[\]]+)|\[(?P<index>-?\d+)\]|\[(?P<star>\*)\]|\[(?P<q>['"])(?P<qkey>.*?)(?P=q)\]""")


class ExtractError(ValueError):
    """A page could not be parsed for extraction (e.g. malformed JSON)."""


@dataclass(frozen=True)
class Field:
    """What to extract for one attribute."""

    name: str
    selector: str | None
    many: bool = False  # array attributes collect every match


# --------------------------------------------------------------------------- JSON paths


@lru_cache(maxsize=1024)
def parse_json_path(path: str) -> tuple[tuple[str, Any], ...]:
    """Tokens of a JSON path: ('key', name) / ('index', n) / ('star', None); errors name the position."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise LightdomError(f"JSON path {path!r}: cannot parse at character {position + 1}: {text[position:]!r}")
        if match.group("key") is not None:
            key = match.group("key")
            tokens.append(("star", None) if key == "*" else ("key", key))
        elif match.group("index") is not None:
            tokens.append(("index", int(match.group("index"))))
        elif match.group("star") is not None:
            tokens.append(("star", None))
        else:
            tokens.append(("key", match.group("qkey")))
        position = match.end()
    return tuple(tokens)


def json_path_values(data: Any, path: str) -> list[Any]:
    """Every value the path reaches (empty when it reaches nothing)."""
    current = [data]
    for kind, arg in parse_json_path(path):
        following: list[Any] = []
        for value in current:
            if kind == "key" and isinstance(value, dict) and arg in value:
                following.append(value[arg])
            elif kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value):
                following.append(value[arg])
            elif kind == "star":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
        current = following
    return current


def _fans_out(path: str) -> bool:
    return any(kind == "star" for kind, _ in parse_json_path(path))


# --------------------------------------------------------------------------- CSS


@lru_cache(maxsize=1024)
def split_css(selector: str) -> tuple[str, str | None]:
    """(css, attribute name or None) from ``css@attr``."""
    match = _ATTR_SUFFIX.match(selector.strip())
    if match:
        return match.group("css").strip(), match.group("attr")
    return selector.strip(), None


def check_selector(selector: str, where: str = "selector") -> str:
    """Accept a JSON path (``$…``) or a CSS selector with optional ``@attr``; else a clear error."""
    if selector.strip().startswith("$"):
        parse_json_path(selector)
        return selector
    css, _ = split_css(selector)
    try:
        LexborHTMLParser("<p></p>").css(css)
    except (SelectolaxError, ValueError) as exc:
        raise LightdomError(f"{where}: {selector!r} is not a valid CSS selector ({exc})") from None
    return selector


def parse_html(html: str | bytes) -> LexborHTMLParser:
    """Parse a page once (several data streams of one service share the tree)."""
    return LexborHTMLParser(html)


CompiledField = tuple[str, "str | None", "str | None", bool]  # name, css, attr, many


def compile_fields(fields: list[Field]) -> list[CompiledField]:
    """Split each selector once per run instead of once per page."""
    compiled: list[CompiledField] = []
    for item in fields:
        css, attr = split_css(item.selector) if item.selector else (None, None)
        compiled.append((item.name, css, attr, item.many))
    return compiled


def extract_html_values(tree: LexborHTMLParser, specs: Sequence[CompiledField]) -> list[Any]:
    """Values in ``specs`` order (the executor's hot path: no dict, selectors pre-split)."""
    values: list[Any] = []
    append = values.append
    css_first = tree.css_first
    for _name, css, attr, many in specs:
        if css is None:
            append(None)
        elif many:
            if attr is None:
                append([node.text(separator=" ", strip=True) for node in tree.css(css)])
            else:
                append([v for v in (node.attributes.get(attr) for node in tree.css(css)) if v is not None])
        else:
            node = css_first(css)
            if node is None:
                append(None)
            elif attr is None:
                append(node.text(separator=" ", strip=True))
            else:
                append(node.attributes.get(attr))
    return values


def extract_html(html: str | bytes | LexborHTMLParser, fields: list[Field]) -> dict[str, Any]:
    """Values of ``fields`` in one HTML page (lexbor tolerates malformed markup)."""
    tree = html if isinstance(html, LexborHTMLParser) else LexborHTMLParser(html)
    specs = compile_fields(fields)
    return dict(zip((spec[0] for spec in specs), extract_html_values(tree, specs)))


def extract_json(data: Any, fields: Sequence[Field]) -> dict[str, Any]:
    """Values of ``fields`` in one parsed JSON document."""
    values: dict[str, Any] = {}
    for item in fields:
        if not item.selector:
            values[item.name] = None
            continue
        found = json_path_values(data, item.selector)
        if item.many or _fans_out(item.selector):
            values[item.name] = found
        else:
            values[item.name] = found[0] if found else None
    return values


def parse_json(body: bytes | str) -> Any:
    """Parse a JSON page; malformed JSON raises ExtractError with the position."""
    import json

    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExtractError(f"malformed JSON: {exc}") from None


# --------------------------------------------------------------------------- a whole page


@dataclass(frozen=True)
class StreamFields:
    """What one data stream extracts: pre-split CSS specs for HTML, fields for JSON."""

    html: tuple[CompiledField, ...]
    json: tuple[Field, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class ExtractJob:
    """How a service's pages are parsed and which values each of its data streams takes."""

    streams: tuple[StreamFields, ...]
    max_bytes: int
    format: str | None  # "json" / "html"; None: by the page's content type


@dataclass
class PageValues:
    """One page's outcome: an error, or each stream's values in column order."""

    source: str
    error: str | None = None
    values: list[list[Any]] | None = None
    attempts: int = 1


def stream_fields(fields: list[Field]) -> StreamFields:
    """A data stream's fields in both forms."""
    return StreamFields(tuple(compile_fields(fields)), tuple(fields), tuple(f.name for f in fields))


def _extract_body(source: str, body: bytes, is_json: bool, job: ExtractJob, attempts: int = 1) -> PageValues:
    try:
        if is_json:
            doc = parse_json(body)
            values = []
            for stream in job.streams:
                found = extract_json(doc, stream.json)
                values.append([found[name] for name in stream.names])
        else:
            tree = parse_html(body)
            values = [extract_html_values(tree, stream.html) for stream in job.streams]
    except ExtractError as exc:
        return PageValues(source, error=str(exc), attempts=attempts)
    return PageValues(source, values=values, attempts=attempts)


def extract_result(result: FetchResult, job: ExtractJob) -> PageValues:
    """Parse a fetched page once and extract every stream's values; errors become the page's error."""
    if not result.ok:
        return PageValues(result.source, error=result.error, attempts=result.attempts)
    is_json = job.format == "json" if job.format else "json" in result.content_type.lower()
    return _extract_body(result.source, result.body or b"", is_json, job, result.attempts)


def extract_page(source: str, job: ExtractJob) -> PageValues:
    """Read a local page and extract it (the executor's loop over a file service)."""
    path = source.removeprefix("file://")
    body, error = read_local(path, job.max_bytes)
    if body is None:
        return PageValues(source, error=error)
    is_json = job.format == "json" if job.format else path.lower().endswith(JSON_SUFFIXES)
    return _extract_body(source, body, is_json, job)
