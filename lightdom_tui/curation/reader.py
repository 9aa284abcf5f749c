"""Streaming readers: every input file becomes a sequence of (position, raw text, value | error).

``position`` is the 1-based physical line for JSONL (blank lines are skipped but keep
their numbers) and the 1-based item number for JSON arrays; it is what the ingest
progress table (``IngestFile.lines_done``) stores so a killed ingest resumes exactly.
"""

from __future__ import annotations

import gzip
import json

import orjson
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")
MAX_LINE_BYTES = 16 * 1024 * 1024
_decoder = json.JSONDecoder()


@dataclass
class RawItem:
    """One record as read: its position, line number, raw text and decoded value or error."""

    position: int
    line: int
    raw: str  # filled for errors; for good JSONL lines read lazily from ``data``
    value: Any = None
    error: str | None = None
    data: bytes | None = None

    def raw_text(self) -> str:
        """The record's text as read (decoded leniently)."""
        if self.raw or self.data is None:
            return self.raw
        return self.data.decode("utf-8", "replace")


def is_data_file(path: Path) -> bool:
    """True for the file types ingest reads."""
    name = path.name.lower()
    return not name.startswith(".") and any(name.endswith(s) for s in SUFFIXES)


def open_binary(path: Path) -> BinaryIO:
    """Open plain or gzip-compressed files for binary reading."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _is_array_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".json") or name.endswith(".json.gz")


def iter_items(path: Path, skip: int = 0) -> Iterator[RawItem]:
    """Yield the records of ``path`` after position ``skip`` (decoded, or with the error)."""
    if _is_array_file(path):
        yield from _iter_array(path, skip)
    else:
        yield from _iter_jsonl(path, skip)


def _decode_line(data: bytes, number: int) -> RawItem:
    if len(data) > MAX_LINE_BYTES:
        return RawItem(number, number, data[:4096].decode("utf-8", "replace"),
                       error=f"line too long: {len(data)} bytes (max {MAX_LINE_BYTES})")
    try:
        return RawItem(number, number, "", value=orjson.loads(data))  # raw text only kept for errors
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawItem(number, number, data.decode("utf-8", "replace"),
                       error=f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
    try:  # the stdlib parser gives the friendlier message (and accepts what orjson cannot, e.g. big ints)
        return RawItem(number, number, text, value=json.loads(text))
    except json.JSONDecodeError as exc:
        return RawItem(number, number, text, error=f"not JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return RawItem(number, number, text[:4096], error="not JSON: nested too deeply")


def _iter_jsonl(path: Path, skip: int) -> Iterator[RawItem]:
    with open_binary(path) as handle:
        for number, data in enumerate(handle, 1):
            if number <= skip:
                continue
            data = data.rstrip(b"\r\n")
            if not data.strip():
                continue
            if data.startswith(b"\xef\xbb\xbf") and number == 1:
                data = data[3:]  # a UTF-8 BOM is not an error
            item = _decode_line(data, number)
            item.data = data
            yield item


def _iter_array(path: Path, skip: int) -> Iterator[RawItem]:
    """JSON files: a top-level array of records (or one record). Read whole; use JSONL for big data."""
    with open_binary(path) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if skip < 1:
            yield RawItem(1, 1, data[:65536].decode("utf-8", "replace"),
                          error=f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
        return
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        return
    if text[pos] != "[":
        if skip < 1:
            yield _array_element(text, pos, 1)
        return
    pos = _skip_ws(text, pos + 1)
    index = 0
    line = text.count("\n", 0, pos) + 1
    counted = pos
    while pos < len(text) and text[pos] != "]":
        index += 1
        line += text.count("\n", counted, pos)
        counted = pos
        item = _array_element(text, pos, index, line)
        if item.error:  # the rest of the array cannot be trusted: one quarantined entry
            if index > skip:
                item.raw = text[pos:pos + 65536]
                yield item
            return
        end = item.value_end  # type: ignore[attr-defined]
        if index > skip:
            yield item
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] != "]":
            index += 1
            line += text.count("\n", counted, pos)
            if index > skip:
                yield RawItem(index, line, text[pos:pos + 65536], error="not JSON: expected ',' or ']' in array")
            return


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _array_element(text: str, pos: int, index: int, line: int | None = None) -> RawItem:
    line = line if line is not None else text.count("\n", 0, pos) + 1
    try:
        value, end = _decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        return RawItem(index, exc.lineno, text[pos:pos + 65536], error=f"not JSON: {exc.msg} (line {exc.lineno})")
    except RecursionError:
        return RawItem(index, line, text[pos:pos + 4096], error="not JSON: nested too deeply")
    item = RawItem(index, line, text[pos:end], value=value)
    item.value_end = end  # type: ignore[attr-defined]
    return item
