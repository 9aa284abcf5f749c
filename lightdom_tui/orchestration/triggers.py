"""Workflow triggers: manual, schedule (cron + IANA timezone), webhook (secret token), file (watched path).

Cron due times are computed on the local wall clock of the workflow's timezone and
then mapped to UTC instants, with the DST rules cron users expect (as cronie does):

- a wall time skipped by a spring-forward gap runs once, at the first instant after
  the gap (02:30 on the day Berlin jumps 02:00→03:00 runs at 03:00 CEST);
- a wall time repeated by a fall-back runs once (first occurrence) for fixed-hour
  expressions, and at both occurrences when the hour field is a wildcard (an hourly
  job keeps running every real hour).

All due times are timezone-aware UTC ``datetime``s.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from lightdom_tui.errors import LightdomError

TRIGGER_VALUES = ("manual", "schedule", "webhook", "file")
UTC = timezone.utc
_HORIZON = timedelta(days=400)  # an expression with no match within this is "never due"


# --------------------------------------------------------------------------- validation


def check_timezone(name: Any, where: str = "trigger_config.timezone") -> ZoneInfo:
    """The ZoneInfo for an IANA name; a clear error otherwise."""
    if not isinstance(name, str) or not name:
        raise LightdomError(f"{where}: expected an IANA timezone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LightdomError(f"{where}: unknown timezone {name!r}") from None


def check_cron(expr: Any, where: str = "trigger_config.cron") -> str:
    """A valid five-field cron expression, else a clear error."""
    if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise LightdomError(f"{where}: {expr!r} is not a valid 5-field cron expression (e.g. '0 6 * * *')")
    return expr


def check_trigger(trigger: Any, config: Any) -> dict[str, Any]:
    """Validate a trigger and its config; returns the normalised config."""
    if trigger not in TRIGGER_VALUES:
        raise LightdomError(f"trigger: {trigger!r} is not one of {', '.join(TRIGGER_VALUES)}")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise LightdomError("trigger_config: expected an object")
    config = dict(config)
    if trigger == "schedule":
        check_cron(config.get("cron"))
        config.setdefault("timezone", "UTC")
        check_timezone(config["timezone"])
    if trigger == "file":
        path = config.get("path")
        if not isinstance(path, str) or not path:
            raise LightdomError("trigger_config.path: required for a file trigger (file or folder to watch)")
    if "token" in config:
        raise LightdomError("trigger_config.token: never stored; use `workflow token ID` to issue one")
    return config


# --------------------------------------------------------------------------- cron


def _wildcard_hour(expr: str) -> bool:
    return "*" in expr.split()[1]


def _instants(naive: datetime, zone: ZoneInfo, wildcard_hour: bool) -> list[datetime]:
    """UTC instants at which a local wall time ``naive`` is due (see module docstring)."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:  # in a spring-forward gap: run at the instant the clock jumps over it
        transition = _gap_transition(naive, zone)
        return [transition if transition is not None else first.astimezone(UTC)]
    if first.utcoffset() != second.utcoffset():  # ambiguous (fall back): repeated wall time
        instants = [first.astimezone(UTC)]
        if wildcard_hour:
            instants.append(second.astimezone(UTC))
        return instants
    return [first.astimezone(UTC)]


def _gap_transition(naive: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant where the wall clock jumps over ``naive`` (searched minute by minute, ≤ 3 h)."""
    probe = naive.replace(tzinfo=zone, fold=0).astimezone(UTC) - timedelta(hours=3)
    probe = probe.replace(second=0, microsecond=0)
    previous_offset = probe.astimezone(zone).utcoffset()
    for _ in range(6 * 60):
        probe += timedelta(minutes=1)
        offset = probe.astimezone(zone).utcoffset()
        if offset != previous_offset and probe.astimezone(zone).replace(tzinfo=None) > naive:
            return probe
        previous_offset = offset
    return None


def due_times(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Due instants (UTC, sorted, unique) with ``start < t <= end``."""
    zone = check_timezone(tz, "timezone")
    check_cron(expr, "cron")
    start, end = _aware(start), _aware(end)
    wildcard = _wildcard_hour(expr)
    # iterate the local wall clock with a margin covering any DST shift
    local_start = start.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    local_end = end.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3)
    found: set[datetime] = set()
    it = croniter(expr, local_start)
    while True:
        naive = it.get_next(datetime)
        if naive > local_end:
            break
        for instant in _instants(naive, zone, wildcard):
            if start < instant <= end:
                found.add(instant)
    return sorted(found)


def next_due(expr: str, tz: str, after: datetime) -> datetime | None:
    """The first due instant strictly after ``after`` (None when none within ~13 months)."""
    after = _aware(after)
    window = timedelta(days=2)
    horizon = after + _HORIZON
    cursor = after
    while cursor < horizon:
        found = due_times(expr, tz, cursor, cursor + window)
        if found:
            return found[0]
        cursor += window
        window = min(window * 4, timedelta(days=64))
    return None


def latest_due(expr: str, tz: str, since: datetime, now: datetime) -> datetime | None:
    """The most recent due instant in ``(since, now]`` — missed runs coalesce into one."""
    since, now = _aware(since), _aware(now)
    if now <= since:
        return None
    start = max(since, now - timedelta(days=35))
    found = due_times(expr, tz, start, now)
    return found[-1] if found else None


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are UTC (that is how SQLite gives them back)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --------------------------------------------------------------------------- webhook tokens


def hash_token(token: str) -> str:
    """SHA-256 of a webhook token (only the hash is stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_webhook_token() -> tuple[str, str]:
    """A fresh secret token and its hash."""
    token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def token_matches(config: dict[str, Any], token: str | None) -> bool:
    """Constant-time check of ``token`` against the stored hash; False when either is missing."""
    stored = config.get("token_sha256")
    if not token or not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored, hash_token(token))


# --------------------------------------------------------------------------- file triggers


@dataclass
class WatchSpec:
    """A watched path and the workflow it triggers."""

    workflow_id: int
    path: Path


def watched_path(root: Path, config: dict[str, Any]) -> Path:
    """Absolute watched path (relative paths are inside the workspace)."""
    path = Path(config["path"]).expanduser()
    return path if path.is_absolute() else (root / path)
