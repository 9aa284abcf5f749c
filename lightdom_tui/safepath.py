"""File names from user data, and paths that must stay inside a folder.

Every file name built from data (a task type, a dataset or version name, a topic) goes
through :func:`safe_filename`; every path built under a folder the product owns is checked
by :func:`inside` (symlinks resolved). Names a user gives things that also name files are
checked once, when they are created, by :func:`validate_name`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from lightdom_tui.errors import LightdomError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_FILENAME = 80


def safe_filename(text: str, *, max_length: int = MAX_FILENAME) -> str:
    """A single file-name component made from arbitrary text.

    Kept as is when it is already safe (letters, digits, ``.``, ``_``, ``-``, not starting
    with a dot, at most ``max_length``); otherwise unsafe runs become ``_`` and a short hash
    of the original is appended, so two different values never share a file.
    """
    if _NAME.fullmatch(text) and len(text) <= max_length:
        return text
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFKC", text)).strip("._-")
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: max(max_length - 9, 1)] or 'x'}-{digest}"


def inside(root: Path | str, path: Path | str) -> Path:
    """``path`` (taken relative to ``root`` when relative) resolved; refused when it leaves ``root``."""
    base = Path(root).resolve()
    candidate = (base / path).resolve()
    if not candidate.is_relative_to(base):
        raise LightdomError(f"{path}: outside {base}; refused")
    return candidate


def child_path(root: Path | str, *parts: str) -> Path:
    """``root / part / …`` with each part made a safe file name, checked to stay inside ``root``."""
    return inside(root, Path(*(safe_filename(part) for part in parts)))


def validate_name(name: str, what: str) -> str:
    """A name a user gives a thing whose files carry it (dataset, model version), stripped.

    1-100 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit, not only
    digits (a number is read as an id); anything else is one clear error naming it.
    """
    stripped = name.strip()
    if not _NAME.fullmatch(stripped) or stripped.isdigit():
        from lightdom_tui.safetext import one_line

        raise LightdomError(
            f"{what} name {one_line(name)[:120]!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (not only digits)"
        )
    return stripped
