"""The one bounded, streaming reader for every input format: a file becomes a sequence of RawItem.

Every format goes through the same three steps, each bounded in memory:

1. :class:`ByteSource` reads the file in blocks, hashing the raw bytes it reads (ingest
   compares that hash with the one it claimed the file under) and, for ``.gz`` names,
   decompresses incrementally. A damaged stream (not gzip, truncated, corrupt) ends the
   bytes early and leaves a reason; the readers turn it into one quarantined item.
2. A splitter cuts the bytes into records without ever holding more than
   ``MAX_LINE_BYTES`` of one: lines for JSONL, top-level values for ``.json`` (an array,
   one value, or values one after another). A broken array element is cut out and the
   splitter resynchronises on the next element, so one bad element costs one item.
3. :func:`decode` turns one record's bytes into a value or a one-line error; it never raises.

``position`` is the 1-based physical line for JSONL (blank lines are skipped but keep
their numbers) and the 1-based item number for JSON; it is what the ingest progress table
(``IngestFile.lines_done``) stores so a killed ingest resumes exactly.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz")
MAX_LINE_BYTES = 16 * 1024 * 1024
BLOCK_BYTES = 1 << 20
PREVIEW_BYTES = 65536  # raw bytes kept of a record that is too long or cut off
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class RawItem:
    """One record as read: its position, line number, raw text and decoded value or error."""

    position: int
    line: int
    raw: str  # filled for errors; for good records read lazily from ``data``
    value: Any = None
    error: str | None = None
    data: bytes | None = None

    def raw_text(self) -> str:
        """The record's text as read (decoded leniently)."""
        if self.raw or self.data is None:
            return self.raw
        return self.data.decode("utf-8", "replace")


class StreamError(Exception):
    """The bytes of a file end early (not gzip, truncated, corrupt, unreadable)."""

    def __init__(self, reason: str, preview: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.preview = preview


def is_data_file(path: Path) -> bool:
    """True for the file types ingest reads."""
    name = path.name.lower()
    return not name.startswith(".") and any(name.endswith(s) for s in SUFFIXES)


def is_gzip_name(path: Path) -> bool:
    """True when the name says the file is gzip-compressed."""
    return path.name.lower().endswith(".gz")


def is_array_name(path: Path) -> bool:
    """True for ``.json`` / ``.json.gz`` (values, usually one array), False for line formats."""
    name = path.name.lower()
    return name.endswith(".json") or name.endswith(".json.gz")


class ByteSource:
    """A file's (decompressed) bytes in bounded blocks; ``sha256`` covers every raw byte read.

    After the blocks run out, ``error`` holds the reason when the stream ended early. The
    rest of the raw file is still read into the hash, so a complete pass always hashes the
    whole file and ingest can tell if it changed while being read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = hashlib.sha256()
        self.error: StreamError | None = None
        self.out_bytes = 0

    def hexdigest(self) -> str:
        """SHA-256 of the raw bytes read so far."""
        return self.sha256.hexdigest()

    def _blocks(self, handle: Any) -> Iterator[bytes]:
        while True:
            try:
                block = handle.read(BLOCK_BYTES)
            except OSError as exc:
                raise StreamError(f"cannot read the file: {exc.strerror or exc}") from None
            if not block:
                return
            self.sha256.update(block)
            yield block

    def chunks(self) -> Iterator[bytes]:
        """Yield the file's bytes (decompressed for .gz); sets ``error`` if they end early."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            self.error = StreamError(f"cannot read the file: {exc.strerror or exc}")
            return
        with handle:
            blocks = self._blocks(handle)
            try:
                for chunk in (self._gunzip(blocks) if is_gzip_name(self.path) else blocks):
                    self.out_bytes += len(chunk)
                    yield chunk
            except StreamError as exc:
                self.error = exc
            try:
                for _ in blocks:  # the rest still counts towards the file's hash
                    pass
            except StreamError:
                pass

    def _gunzip(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        """Incremental gzip (multi-member, zero padding allowed), output in bounded pieces."""
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        member_started = False
        first = True
        for block in blocks:
            if first:
                first = False
                if not block.startswith(GZIP_MAGIC):
                    raise StreamError(
                        f"not gzip: the name ends in .gz but the file starts with {block[:2].hex(' ') or 'nothing'}"
                        " instead of the gzip signature 1f 8b", block[:4096])
            data = block
            while data:
                if not member_started and not data.strip(b"\x00"):
                    break  # zero padding after the last member
                member_started = True
                try:
                    out = decomp.decompress(data, BLOCK_BYTES)
                except zlib.error as exc:
                    raise StreamError(f"gzip data corrupt after {self.out_bytes} decompressed bytes ({exc})") from None
                if out:
                    yield out
                data = decomp.unconsumed_tail
                if decomp.eof:  # the next member (or padding) follows
                    data = decomp.unused_data + data
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    member_started = False
        if first:
            raise StreamError("not gzip: the file is empty")
        if member_started:
            tail = decomp.flush()
            if tail:
                yield tail
            raise StreamError(f"gzip data truncated: the compressed stream ends after {self.out_bytes} "
                              "decompressed bytes; the rest of the file is lost")


def decode(data: bytes, position: int, line: int) -> RawItem:
    """Decode one record's bytes; never raises (errors are one line naming the problem)."""
    try:
        return RawItem(position, line, "", value=orjson.loads(data), data=data)
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawItem(position, line, data.decode("utf-8", "replace"),
                       error=f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
    try:  # the stdlib parser gives the friendlier message (and accepts what orjson cannot, e.g. big ints)
        return RawItem(position, line, "", value=json.loads(text), data=data)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {line + exc.lineno - 1}, column {exc.colno}"
        return RawItem(position, line, text, error=f"not JSON: {exc.msg} ({where})")
    except RecursionError:
        return RawItem(position, line, text[:4096], error="not JSON: nested too deeply")
    except ValueError:  # Python's int-string limit: a number with thousands of digits
        return RawItem(position, line, text,
                       error=f"number too large: an integer with more than {sys.get_int_max_str_digits()} digits")


def _too_long(position: int, line: int, preview: bytes, size: int, what: str) -> RawItem:
    return RawItem(position, line, preview.decode("utf-8", "replace"),
                   error=f"{what} too long: {size} bytes (max {MAX_LINE_BYTES})")


def _stream_end(source: ByteSource, position: int, line: int, partial: RawItem | None) -> Iterator[RawItem]:
    """Items for a stream that ended early: the cut-off record (if any) and the reason."""
    error = source.error
    if error is None:
        if partial is not None:
            yield partial
        return
    if partial is not None and partial.error is None:
        yield partial  # the cut fell exactly at its end: it is complete
        partial = None
    if partial is not None:
        partial.error = f"{error.reason} (cut off inside this record)"
        yield partial
    else:
        yield RawItem(position, line, error.preview.decode("utf-8", "replace"), error=error.reason)


def iter_items(path: Path, skip: int = 0, source: ByteSource | None = None) -> Iterator[RawItem]:
    """Yield the records of ``path`` after position ``skip`` (decoded, or with the error)."""
    source = source or ByteSource(path)
    if is_array_name(path):
        yield from _iter_values(source, skip)
    else:
        yield from _iter_jsonl(source, skip)


# --- JSONL: bounded lines ---------------------------------------------------------------------


def _bounded(pieces: list[bytes], piece: bytes, size: int) -> list[bytes]:
    """Add ``piece`` to a record's pieces (``size`` bytes so far); past the limit keep only a preview."""
    if size + len(piece) <= MAX_LINE_BYTES:
        pieces.append(piece)
        return pieces
    if size > MAX_LINE_BYTES:
        return pieces  # already cut to a preview
    preview, kept = [], 0
    for part in (*pieces, piece):
        preview.append(part[:PREVIEW_BYTES - kept])
        kept += len(preview[-1])
        if kept >= PREVIEW_BYTES:
            break
    return [b"".join(preview)]


def _iter_jsonl(source: ByteSource, skip: int) -> Iterator[RawItem]:
    number = 0
    pieces: list[bytes] = []  # the current line so far (at most MAX_LINE_BYTES + a preview)
    size = 0  # bytes of the current line seen, kept or not

    def finish(data: bytes, size: int) -> RawItem | None:
        if number <= skip:
            return None
        if size > MAX_LINE_BYTES:
            return _too_long(number, number, data[:PREVIEW_BYTES], size, "line")
        data = data.rstrip(b"\r")
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a UTF-8 BOM is not an error
        if not data.strip():
            return None
        return decode(data, number, number)

    for chunk in source.chunks():
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                rest = len(chunk) - start
                if rest:
                    pieces = _bounded(pieces, chunk[start:], size)
                    size += rest
                break
            number += 1
            if pieces:
                pieces = _bounded(pieces, chunk[start:end], size)
                data, pieces = b"".join(pieces), []
            else:
                data = chunk[start:end]
            item = finish(data, size + end - start)
            size = 0
            if item is not None:
                yield item
            start = end + 1
    partial = None
    if size:  # a last line without a newline
        number += 1
        partial = finish(b"".join(pieces), size)
    yield from _stream_end(source, number if partial is not None else number + 1,
                           number if partial is not None else number + 1, partial)


# --- JSON: bounded top-level values ---------------------------------------------------------

# outside strings: a whole string in one step (the common case), else a structural byte
_OUTSIDE = re.compile(rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|[\n"\[\]{},]')
_INSIDE = re.compile(rb'[\n"\\]')
_NON_WS = re.compile(rb"[^ \t\r\n]")
_KEY_PREFIX = re.compile(rb'\A[ \t\r\n]*(\{[ \t\r\n]*"[^"\\\n]{1,64}"[ \t\r\n]*:)')
_CLOSER = {ord("]"): ord("["), ord("}"): ord("{")}


class _ValueSplitter:
    """Cuts a byte stream into top-level JSON values, at most MAX_LINE_BYTES kept per value.

    Inside a top-level array the values are its elements; otherwise values follow one
    another (one object, or several, one per line). A structurally broken element (a
    mismatched bracket, a raw newline inside a string, the file ending inside it) is cut
    where the next element starts: a line with the same indentation and opening bracket,
    or ``, {"key":`` with the first key of the last good element. The cut is looked for
    in what was read of the element first, then ahead; everything in between becomes
    one quarantined item. Results do not depend on where the read blocks end.
    """

    HOLD = 512  # bytes held back between blocks while looking ahead for a cut

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.index = 0
        self.line = 1  # line at the current scan position
        self.in_array = False
        self.started = False  # saw the first byte of this document (array or sequence)
        self.stack = bytearray()  # open brackets inside the current value
        self.in_string = False
        self.escape = False
        self.pieces: list[bytes] = []
        self.size = 0
        self.value_line = 0  # line where the current value starts (0: not started)
        self.value_column = -1  # its column when it starts a line, else -1
        self.opener = b"{"
        self.prefix: bytes | None = None  # ``{"first_key":`` of the last good element
        self.broken: str | None = None
        self.resync: re.Pattern[bytes] | None = None
        self.split_tried = False
        self.line_start = 0  # offset of the current line's start in the block; -1: in an earlier block
        self.col0 = 0  # column of the block's first byte
        self.blank0 = True  # only blanks before it on its line
        self.carry = b""  # held back for the next block (looking ahead for a cut)
        self.last: RawItem | None = None

    # positions -----------------------------------------------------------------------------
    def _column(self, chunk: bytes, at: int) -> int:
        """Column of ``chunk[at]`` if only blanks precede it on its line, else -1."""
        if self.line_start >= 0:
            return at - self.line_start if not chunk[self.line_start:at].strip() else -1
        return self.col0 + at if self.blank0 and not chunk[:at].strip() else -1

    def _advance_lines(self, chunk: bytes, start: int, stop: int) -> None:
        """Count the newlines in ``chunk[start:stop]`` and move the line start past the last."""
        self.line += chunk.count(b"\n", start, stop)
        newline = chunk.rfind(b"\n", start, stop)
        if newline >= 0:
            self.line_start = newline + 1

    def _block_end(self, chunk: bytes, stop: int) -> None:
        """Carry the column state of ``chunk[:stop]`` over to the next block."""
        newline = chunk.rfind(b"\n", 0, stop)
        if newline >= 0:
            self.col0, self.blank0 = stop - newline - 1, not chunk[newline + 1:stop].strip()
        else:
            self.col0, self.blank0 = self.col0 + stop, self.blank0 and not chunk[:stop].strip()

    # bytes of the current value ------------------------------------------------------------
    def _keep(self, piece: bytes) -> None:
        if piece:
            self.pieces = _bounded(self.pieces, piece, self.size)
            self.size += len(piece)

    def _begin(self, chunk: bytes, at: int) -> None:
        """A value's first byte is at ``chunk[at]``: remember its line, column and opener."""
        self.value_line = self.line
        self.value_column = self._column(chunk, at)
        self.opener = chunk[at:at + 1]

    def _emit(self) -> RawItem | None:
        data = b"".join(self.pieces).strip()
        size, self.pieces, self.size = self.size, [], 0
        line, self.value_line = self.value_line or self.line, 0
        broken, self.broken, self.resync = self.broken, None, None
        self.stack.clear()
        self.in_string = self.escape = False
        if not data:
            return None
        self.index += 1
        if self.index <= self.skip:
            return None
        if size > MAX_LINE_BYTES:
            return _too_long(self.index, line, data[:PREVIEW_BYTES], size, "JSON value")
        if broken:  # the parser names the fault; a value cut out whole may even be fine
            item = decode(data[:-1] if data.endswith(b",") else data, self.index, line)
            if item.error is not None:
                item.raw = item.raw or data.decode("utf-8", "replace")
                item.error = f"{item.error}; {broken}"
            return item
        item = decode(data, self.index, line)
        if item.error is None and data[:1] == b"{":
            match = _KEY_PREFIX.match(data)
            self.prefix = match.group(1) if match else None
        return item

    def _break(self, reason: str) -> None:
        """The current value is broken: decide what the start of the next one looks like."""
        self.broken = reason
        self.split_tried = False
        if self.value_column >= 0:
            pattern = rb"\n[ \t]{%d}(?=%s)" % (self.value_column, re.escape(self.opener))
        elif self.prefix is not None:
            pattern = rb",[ \t\r\n]*(?=%s)" % re.escape(self.prefix)
        else:
            pattern = rb",[ \t\r\n]*(?=%s)" % re.escape(self.opener)
        self.resync = re.compile(pattern)

    def _split_broken(self) -> bytes | None:
        """Cut the broken value where the next one starts inside it; return the bytes after the cut."""
        if self.size > MAX_LINE_BYTES or self.resync is None:
            return None
        data = b"".join(self.pieces)
        first = len(data) - len(data.lstrip())
        match = self.resync.search(data, first + 1)
        if match is None:
            return None
        self.pieces, self.size = [data[:match.end()]], match.end()
        return data[match.end():]

    def _restart_state(self, column: int) -> None:
        """The next block starts where a cut put the next value (at ``column`` after blanks, or -1)."""
        self.line_start = -1
        self.col0, self.blank0 = max(column, 0), column >= 0

    def _next_value_starts(self, chunk: bytes, at: int) -> bool:
        """Inside an unclosed value that began a line: does the line at ``at`` begin the next one?"""
        column = self.value_column
        if column < 0 or chunk[at + column:at + column + 1] != self.opener:
            return False  # (near a block end this is found later by the cut inside the value)
        return not chunk[at:at + column].strip(b" \t")

    # scanning -----------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> Iterator[RawItem]:
        """Scan one block; yield the values that end in it."""
        if self.carry:
            chunk, self.carry = self.carry + chunk, b""
        pos = 0
        seg = 0  # start of the current value's bytes in this chunk
        self.line_start = -1 if not self.blank0 or self.col0 else 0
        end = len(chunk)
        while pos < end:
            if self.broken is not None:
                if not self.split_tried:  # first look for the next value inside what was read already
                    self.split_tried = True
                    self._keep(chunk[seg:pos])
                    seg = pos
                    column = self.value_column
                    tail = self._split_broken()
                    if tail is not None:
                        item = self._emit()
                        if item is not None:
                            yield item
                        self.line -= tail.count(b"\n")  # counted once already; scanned again now
                        chunk, end, pos, seg = tail + chunk[pos:], len(tail) + end - pos, 0, 0
                        self._restart_state(column)
                        continue
                match = self.resync.search(chunk, pos)  # type: ignore[union-attr]
                if match is None:  # hold back the end of the block: a cut may straddle it
                    stop = max(pos, end - self.HOLD)
                    self._advance_lines(chunk, pos, stop)
                    self._keep(chunk[seg:stop])
                    self.carry = chunk[stop:]
                    self._block_end(chunk, stop)
                    return
                cut = match.end()
                self._advance_lines(chunk, pos, cut)
                self._keep(chunk[seg:cut])
                item = self._emit()
                if item is not None:
                    yield item
                pos = seg = cut
                continue
            if not self.started or (self.value_line == 0 and not self.in_array):
                match = _NON_WS.search(chunk, pos)
                if not match:
                    self._advance_lines(chunk, pos, end)
                    seg = end
                    break
                at = match.start()
                self._advance_lines(chunk, pos, at)
                pos = seg = at
                if not self.started:
                    self.started = True
                    if chunk[at:at + 3] == b"\xef\xbb\xbf":
                        pos = seg = at + 3
                        continue
                    if chunk[at] == ord("["):
                        self.in_array = True
                        pos = seg = at + 1
                        continue
                self._begin(chunk, at)
            if self.in_string:
                match = _INSIDE.search(chunk, pos + 1 if self.escape and pos == 0 else pos)
                self.escape = False
                if not match:
                    break
                at = match.start()
                byte = chunk[at]
                if byte == 0x5C:  # backslash: skip the escaped byte
                    if at + 1 >= end:
                        self.escape = True
                        break
                    pos = at + 2
                    continue
                if byte == 0x0A:  # counted by the cut
                    self._break(f"a string runs past the end of line {self.line}")
                    pos = at
                    continue
                self.in_string = False
                pos = at + 1
                continue
            match = _OUTSIDE.search(chunk, pos)
            if not match:
                break
            at = match.start()
            byte = chunk[at]
            pos = at + 1
            if byte == 0x22:  # '"': a whole string, or one that goes on past this block or line
                if self.value_line == 0:
                    self._begin(chunk, at)
                if match.end() - at > 1:
                    pos = match.end()
                else:
                    self.in_string = True
            elif byte == 0x0A:
                if self.stack and self._next_value_starts(chunk, pos):  # cut at this newline (or before)
                    self._break("not closed before the next value starts")
                    pos = at
                    continue
                self.line += 1
                self.line_start = pos
                if not self.in_array and not self.stack and self.value_line:
                    self._keep(chunk[seg:at])  # a newline ends a scalar between values
                    seg = pos
                    item = self._emit()
                    if item is not None:
                        yield item
            elif byte in (0x5B, 0x7B):  # '[' '{'
                if self.value_line == 0:
                    self._begin(chunk, at)
                elif not self.in_array and not self.stack:  # a new value right after a scalar
                    self._keep(chunk[seg:at])
                    seg = at
                    item = self._emit()
                    if item is not None:
                        yield item
                    self._begin(chunk, at)
                self.stack.append(byte)
            elif byte in (0x5D, 0x7D):  # ']' '}'
                if self.stack:
                    if self.stack[-1] != _CLOSER[byte]:
                        self._break(f"'{chr(byte)}' closes '{chr(self.stack[-1])}' (line {self.line})")
                        pos = at
                        continue
                    self.stack.pop()
                    if not self.stack and not self.in_array:  # a whole top-level value
                        self._keep(chunk[seg:pos])
                        seg = pos
                        item = self._emit()
                        if item is not None:
                            yield item
                elif self.in_array and byte == 0x5D:  # the array ends
                    self._keep(chunk[seg:at])
                    seg = pos
                    item = self._emit()
                    if item is not None:
                        yield item
                    self.in_array = self.started = False  # anything after is read as new values
                else:
                    if self.value_line == 0:
                        self._begin(chunk, at)
                    self._break(f"unexpected '{chr(byte)}' (line {self.line})")
                    pos = at + 1
            elif byte == 0x2C:  # ','
                if not self.stack:
                    self._keep(chunk[seg:at])
                    seg = pos
                    item = self._emit()
                    if item is not None:
                        yield item
        self._keep(chunk[seg:])
        self._block_end(chunk, end)

    def finish(self) -> Iterator[RawItem]:
        """At the end of the bytes: the values still open, cut where the next ones start.

        The last value (the one the stream may end inside) is not yielded but kept in
        ``last``, for the caller to report with the stream's own error if it has one.
        """
        if self.carry:
            self._advance_lines(self.carry, 0, len(self.carry))
            self._keep(self.carry)
            self.carry = b""
        self.last = None
        while self.stack or self.in_string or self.broken is not None:
            if self.broken is None:
                self._break("the file ends inside this value")
            column = self.value_column
            tail = self._split_broken()
            if tail is None:
                self.last = self._emit()
                return
            item = self._emit()
            if item is not None:
                yield item
            self.line -= tail.count(b"\n")
            self._restart_state(column)
            yield from self.feed(tail)
            if self.carry:
                self._advance_lines(self.carry, 0, len(self.carry))
                self._keep(self.carry)
                self.carry = b""
        self.last = self._emit()


def _iter_values(source: ByteSource, skip: int) -> Iterator[RawItem]:
    splitter = _ValueSplitter(skip)
    for chunk in source.chunks():
        yield from splitter.feed(chunk)
    yield from splitter.finish()
    yield from _stream_end(source, splitter.index + 1, splitter.line, splitter.last)
