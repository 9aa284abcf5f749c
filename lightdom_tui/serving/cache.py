"""Response cache keyed on (model version, messages, params), stored in the ResponseCache table.

Only deterministic requests are cached (temperature 0): a sampled answer is not
a function of its inputs, so replaying it would hide the variation asked for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import ResponseCache


def cache_key(version: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of (version, messages, params)."""
    payload = json.dumps([version, messages, params], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def cacheable(params: dict[str, Any], enabled: bool = True) -> bool:
    """True when caching is on and the request is deterministic."""
    return enabled and float(params.get("temperature", 0.0)) == 0.0


def get_cached(session: Session, key: str) -> dict[str, Any] | None:
    """The stored response for ``key``, or None."""
    row = session.get(ResponseCache, key)
    return loads(row.response_json) if row is not None else None


def put_cached(session: Session, key: str, version: str, response: dict[str, Any]) -> None:
    """Store (or replace) the response for ``key``."""
    row = session.get(ResponseCache, key)
    if row is None:
        session.add(ResponseCache(key=key, version=version, response_json=dumps(response)))
    else:
        row.response_json = dumps(response)
        session.add(row)


def clear_cache(session: Session, version: str | None = None) -> int:
    """Delete cached responses (of one version, or all); returns how many."""
    from sqlmodel import delete, func, select

    query = select(func.count()).select_from(ResponseCache)
    statement = delete(ResponseCache)
    if version is not None:
        query = query.where(ResponseCache.version == version)
        statement = statement.where(ResponseCache.version == version)
    count = session.exec(query).one()
    session.exec(statement)  # type: ignore[call-overload]
    return int(count)
