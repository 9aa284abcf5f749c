"""Numeric bounds shared by the CLI's parsers and the services' id look-ups.

SQLite integers are signed 64-bit: a bigger Python int raises ``OverflowError`` deep inside
a query. Numbers are bounded where they are parsed; text that may be an id or a name
goes through :func:`row_id`.
"""

from __future__ import annotations

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SEED_MAX = 2**32 - 1  # numpy's and many trainers' seed range


def row_id(ref: str | int) -> int | None:
    """The row id ``ref`` names when it is a whole number a row can have (1 … 2^63-1), else None."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        value = ref
    elif isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) <= 19:
        value = int(ref)
    else:
        return None
    return value if 1 <= value <= INT64_MAX else None
