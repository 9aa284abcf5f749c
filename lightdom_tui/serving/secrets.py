"""API keys: environment variable first, else the system keyring; never printed, logged or stored.

The keyring is asked in a worker thread with a timeout: a desktop keyring can
block forever on a headless box (a locked Secret Service waiting for a prompt).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from lightdom_tui.errors import LightdomError
from lightdom_tui.settings import ServingSettings

SERVICE = "lightdom-tui"
KEYRING_TIMEOUT_S = 5.0
T = TypeVar("T")


def mask(key: str | None) -> str:
    """A key shown safely: the last 4 characters only (nothing for short keys)."""
    if not key:
        return ""
    return "…" + key[-4:] if len(key) >= 12 else "…"


def _with_timeout(call: Callable[[], T], what: str, timeout_s: float) -> T:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except Exception as exc:  # reported below without the key in it
            box["error"] = exc

    worker = threading.Thread(target=run, name="keyring", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise LightdomError(f"keyring: {what} did not answer within {timeout_s:.0f} s (locked keyring?)")
    if "error" in box:
        raise LightdomError(f"keyring: {what} failed: {type(box['error']).__name__}: {box['error']}")
    return box["value"]


def keyring_backend() -> str:
    """Name of the active keyring backend (for `doctor` and `keys show`)."""
    import keyring

    return type(keyring.get_keyring()).__name__


def env_var_for(provider: str, settings: ServingSettings | None = None) -> str:
    """The environment variable holding ``provider``'s key (settings for the configured provider)."""
    if settings is not None and provider == settings.remote_provider:
        return settings.api_key_env
    return f"{provider.upper().replace('-', '_')}_API_KEY"


def get_api_key(provider: str, settings: ServingSettings | None = None, *, timeout_s: float = KEYRING_TIMEOUT_S) -> str | None:
    """The key for ``provider``: its env var, else the keyring; None when neither has one."""
    env_value = os.environ.get(env_var_for(provider, settings))
    if env_value:
        return env_value.strip()
    import keyring

    return _with_timeout(lambda: keyring.get_password(SERVICE, provider), f"reading {provider!r}", timeout_s)


def key_source(provider: str, settings: ServingSettings | None = None) -> str | None:
    """Where the key would come from: "env:NAME", "keyring" or None."""
    name = env_var_for(provider, settings)
    if os.environ.get(name):
        return f"env:{name}"
    import keyring

    found = _with_timeout(lambda: keyring.get_password(SERVICE, provider), f"reading {provider!r}", KEYRING_TIMEOUT_S)
    return "keyring" if found else None


def set_api_key(provider: str, key: str, *, timeout_s: float = KEYRING_TIMEOUT_S) -> None:
    """Store ``key`` in the keyring; a backend that cannot store (e.g. the null one) is a clear error."""
    import keyring
    from keyring.errors import KeyringError

    key = key.strip()
    if not key:
        raise LightdomError(f"keys set {provider}: empty key")
    if not (key.isascii() and key.isprintable()):  # HTTP headers are ASCII: it could never be sent
        raise LightdomError(f"keys set {provider}: the key has non-ASCII or control characters; copy it again")
    try:
        _with_timeout(lambda: keyring.set_password(SERVICE, provider, key), f"storing {provider!r}", timeout_s)
    except LightdomError:
        raise
    except KeyringError as exc:  # pragma: no cover - _with_timeout wraps errors already
        raise LightdomError(f"keyring: storing {provider!r} failed: {exc}") from exc


def delete_api_key(provider: str, *, timeout_s: float = KEYRING_TIMEOUT_S) -> bool:
    """Remove ``provider``'s key from the keyring; False when there was none."""
    import keyring

    def delete() -> bool:
        if keyring.get_password(SERVICE, provider) is None:
            return False
        keyring.delete_password(SERVICE, provider)
        return True

    return _with_timeout(delete, f"deleting {provider!r}", timeout_s)
