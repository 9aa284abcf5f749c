"""Read a GGUF file's metadata (the key/value header) without mapping its tensors.

``gguf.GGUFReader`` builds every tensor view and takes seconds on a 100 MB model;
registering a base model only needs ``general.*``. The layout (GGUF v2/v3, little
endian): magic, version u32, tensor count u64, kv count u64, then key/value pairs.
Value-type codes come from gguf-py's ``GGUFValueType`` so they stay the format's own.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGUF_MAGIC, GGUFValueType, LlamaFileType

from lightdom_tui.errors import LightdomError

SCALARS: dict[int, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
MAX_KV = 1 << 20  # a sane bound: a corrupt count must not make us loop for ever


class _Truncated(Exception):
    pass


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    raw = handle.read(size)
    if len(raw) != size:
        raise _Truncated
    return struct.unpack(fmt, raw)[0]


def _read_string(handle: BinaryIO) -> str:
    length = _read(handle, "<Q")
    raw = handle.read(length)
    if len(raw) != length:
        raise _Truncated
    return raw.decode("utf-8", errors="replace")


def _read_value(handle: BinaryIO, kind: int, keep: bool) -> Any:
    if kind == GGUFValueType.STRING:
        if keep:
            return _read_string(handle)
        handle.seek(_read(handle, "<Q"), 1)
        return None
    if kind == GGUFValueType.ARRAY:
        item_kind, count = _read(handle, "<I"), _read(handle, "<Q")
        if item_kind in SCALARS and not keep:  # skip big arrays (token scores) in one seek
            handle.seek(struct.calcsize(SCALARS[item_kind]) * count, 1)
            return None
        items = [_read_value(handle, item_kind, keep) for _ in range(count)]
        return items if keep else None
    if kind in SCALARS:
        return _read(handle, SCALARS[kind])
    raise ValueError(f"unknown value type {kind}")


def read_gguf_metadata(path: Path, prefixes: tuple[str, ...] = ("general.",)) -> dict[str, Any]:
    """Metadata keys starting with one of ``prefixes``; a clear error for a non-GGUF file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            if _read(handle, "<I") != GGUF_MAGIC:
                raise LightdomError(f"{path}: not a GGUF file (bad magic)")
            version = _read(handle, "<I")
            if version not in (2, 3):
                raise LightdomError(f"{path}: GGUF version {version} not supported (expected 2 or 3)")
            _read(handle, "<Q")  # tensor count
            kv_count = _read(handle, "<Q")
            if kv_count > MAX_KV:
                raise LightdomError(f"{path}: corrupt GGUF header ({kv_count} metadata keys)")
            found: dict[str, Any] = {"gguf.version": version}
            for _ in range(kv_count):
                key = _read_string(handle)
                keep = key.startswith(prefixes)
                found_value = _read_value(handle, _read(handle, "<I"), keep)
                if keep:
                    found[key] = found_value
            return found
    except _Truncated:
        raise LightdomError(f"{path}: truncated GGUF header") from None
    except ValueError as exc:
        raise LightdomError(f"{path}: corrupt GGUF header: {exc}") from None


def quant_name(file_type: int | None) -> str | None:
    """``general.file_type`` as a short quant name, e.g. 3 → ``q4_1``, 15 → ``q4_k_m``."""
    if file_type is None:
        return None
    try:
        name = LlamaFileType(file_type).name
    except ValueError:
        return None
    return name.removeprefix("MOSTLY_").lower()
