"""CLI command groups, one module per area; each defines ``register(app)``.

Modules are discovered, so an area adds its commands by adding a module here.
They must import services lazily so `lightdom --help` starts fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _discover() -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return modules


COMMAND_MODULES = _discover()
