"""Lazy access to the service modules the panes call.

The TUI has no logic of its own; it imports services inside workers (so startup
stays fast) and, where a service module has not landed yet, the pane says which
module it needs instead of faking data.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lightdom_tui.errors import LightdomError


class ServiceMissing(LightdomError):
    """A service module the pane needs is not installed in this build."""

    def __init__(self, module: str) -> None:
        super().__init__(f"needs {module}")
        self.module = module


def service(dotted: str) -> ModuleType:
    """Import ``lightdom_tui.<dotted>``; raise :class:`ServiceMissing` when that module is absent."""
    name = f"lightdom_tui.{dotted}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only the module itself (or its package) missing counts; a broken import inside it is a bug.
        if exc.name and name.startswith(exc.name):
            raise ServiceMissing(name) from exc
        raise


def missing(*dotted: str) -> list[str]:
    """Which of the given service modules are absent (cheap: no import of the present ones)."""
    import importlib.util

    absent = []
    for item in dotted:
        name = f"lightdom_tui.{item}"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            absent.append(name)
    return absent
