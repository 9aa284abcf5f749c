"""API keys: environment variable first, else the system keyring; never printed, logged or stored.

The keyring is asked in a worker thread with a timeout: a desktop keyring can
block forever on a headless box (a locked Secret Service waiting for a prompt).
A box with no usable keyring backend (keyring's ``fail`` backend, a headless server)
simply has no key there: that is "not set", not an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
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
        first_line = (str(box["error"]).strip().splitlines() or [""])[0][:200]
        raise LightdomError(f"keyring: {what} failed ({type(box['error']).__name__}: {first_line})")
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


def _from_keyring(provider: str, timeout_s: float) -> str | None:
    """``provider``'s key in the keyring; None when it holds none or no usable backend is installed."""
    import keyring
    from keyring.errors import NoKeyringError

    def read() -> str | None:
        try:
            return keyring.get_password(SERVICE, provider)
        except NoKeyringError:  # keyring's "fail" backend: nothing can be stored, so nothing is
            return None

    return _with_timeout(read, f"reading {provider!r}", timeout_s)


def get_api_key(provider: str, settings: ServingSettings | None = None, *, timeout_s: float = KEYRING_TIMEOUT_S) -> str | None:
    """The key for ``provider``: its env var, else the keyring; None when neither has one.

    A keyring that hangs or fails is a :class:`LightdomError` naming it (the key may be there).
    """
    env_value = os.environ.get(env_var_for(provider, settings))
    if env_value:
        return env_value.strip()
    return _from_keyring(provider, timeout_s)


@dataclass
class KeyLookup:
    """Where ``provider``'s key was found: the key, "env:NAME" or "keyring", and why the keyring said nothing."""

    key: str | None
    source: str | None
    problem: str | None = None  # e.g. the keyring did not answer in time


def find_api_key(provider: str, settings: ServingSettings | None = None, *,
                 timeout_s: float = KEYRING_TIMEOUT_S) -> KeyLookup:
    """Like :func:`get_api_key`, for showing: a keyring that hangs or fails is "not set" plus the reason."""
    name = env_var_for(provider, settings)
    if os.environ.get(name):
        return KeyLookup(os.environ[name].strip(), f"env:{name}")
    try:
        key = _from_keyring(provider, timeout_s)
    except LightdomError as exc:
        return KeyLookup(None, None, str(exc))
    return KeyLookup(key, "keyring" if key else None)


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
