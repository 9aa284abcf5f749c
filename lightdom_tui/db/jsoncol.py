"""Canonical JSON for the ``*_json`` TEXT columns."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Serialise compactly with sorted keys so equal values give equal text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def loads(text: str | None, default: Any = None) -> Any:
    """Parse a JSON column; empty or NULL gives ``default``."""
    if not text:
        return default
    return json.loads(text)
