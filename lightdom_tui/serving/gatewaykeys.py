"""API keys of the gateway (``lightdom keys gateway add|list|revoke``).

A gateway bound to anything but loopback refuses requests without one of these keys.
Only a salted sha256 of each key is stored (``storage/gateway_keys.json``, written
atomically, mode 0600); the key itself is shown once, when created. Requests are
checked with ``hmac.compare_digest`` against every stored hash, so the time taken
does not reveal how much of a guess matched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lightdom_tui.errors import LightdomError

KEYS_FILE = "gateway_keys.json"
PREFIX = "ldg-"


@dataclass
class GatewayKey:
    """A stored key: its name, salt and hash (never the key)."""

    name: str
    salt: str
    sha256: str
    created_at: str


def _path(root: Path) -> Path:
    return root / "storage" / KEYS_FILE


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def keys_stamp(root: Path) -> int | None:
    """The key file's modification time (None when absent), to notice changes cheaply."""
    try:
        return _path(root).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def load_keys(root: Path) -> list[GatewayKey]:
    """The stored keys of the workspace at ``root`` (none when the file is absent)."""
    path = _path(root)
    if not path.exists():
        return []
    try:
        return [GatewayKey(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (json.JSONDecodeError, TypeError) as exc:
        raise LightdomError(f"{path}: unreadable gateway key file ({exc}); revoke and re-create the keys") from None


def _save(root: Path, keys: list[GatewayKey]) -> None:
    path = _path(root)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([k.__dict__ for k in keys], handle, indent=1)
    tmp.replace(path)


def add_key(root: Path, name: str) -> str:
    """Create a key called ``name``; returns the key (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise LightdomError("name: a gateway key needs a name")
    keys = load_keys(root)
    if any(k.name == name for k in keys):
        raise LightdomError(f"name: a gateway key {name!r} exists (revoke it first)")
    key = PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    keys.append(GatewayKey(name, salt, _digest(salt, key), datetime.now(UTC).isoformat(timespec="seconds")))
    _save(root, keys)
    return key


def revoke_key(root: Path, name: str) -> bool:
    """Delete the key called ``name``; False when there is none."""
    keys = load_keys(root)
    kept = [k for k in keys if k.name != name]
    if len(kept) == len(keys):
        return False
    _save(root, kept)
    return True


def check_key(keys: list[GatewayKey], presented: str | None) -> str | None:
    """The name of the key ``presented`` matches (constant-time per stored key), else None."""
    if not presented:
        return None
    match = None
    for key in keys:  # compare against every key: the time does not depend on which one matched
        if hmac.compare_digest(_digest(key.salt, presented), key.sha256):
            match = key.name
    return match


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
