"""Secrets out of text that is shown or stored (stderr, ``requestlog.error``, reports).

Mask first, cut second: a key that straddles a length cut would otherwise survive all but
its last characters (masking after the cut no longer finds the whole key).
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
MIN_SECRET = 4  # shorter "secrets" would mask ordinary words


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def clip(text: str, limit: int, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with secrets masked, then cut to ``limit`` characters (``…`` marks a cut)."""
    masked = mask_secrets(text, secrets)
    return masked if len(masked) <= limit else masked[: max(limit - 1, 0)] + "…"
