"""Text options as both faces receive them (CLI flags, TUI form fields), parsed in one place."""

from __future__ import annotations

import json
from typing import Any

from lightdom_tui.errors import LightdomError


def parse_json_option(value: Any, where: str) -> Any:
    """JSON text → value; ``None`` and empty text → ``None``; already-parsed values pass through.

    The error names the option (``--config``, ``workflow.trigger_config`` …) and the column.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise LightdomError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise LightdomError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer longer than Python converts (4300 digits)
        raise LightdomError(f"{where}: not usable JSON: {exc}") from None


def parse_float_option(value: Any, where: str, default: float | None = None) -> float | None:
    """Number text → float; empty → ``default`` (a form's field left blank keeps the preset's value)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise LightdomError(f"{where}: {value!r} is not a number")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise LightdomError(f"{where}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise LightdomError(f"{where}: {value!r} is not a finite number")
    return number


def parse_int_option(value: Any, where: str, default: int | None = None) -> int | None:
    """Whole-number text → int; empty → ``default``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise LightdomError(f"{where}: {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise LightdomError(f"{where}: {value!r} is not a whole number") from None


def split_list(value: str | None) -> list[str]:
    """Comma-separated text → stripped, non-empty items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]
