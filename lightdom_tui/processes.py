"""Process liveness, shared by training runs and workflow runs (both record their pid)."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True when a process with ``pid`` exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
