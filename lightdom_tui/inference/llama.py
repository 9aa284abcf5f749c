"""Open a llama.cpp model: the one place ``llama_cpp.Llama`` is constructed.

Every caller gets ``verbose=False``, the thread count and GPU offload from
``ServingSettings``, and a :class:`LightdomError` naming the file when llama.cpp
cannot load it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.settings import ServingSettings


def thread_count(settings: ServingSettings) -> int:
    """``n_threads`` from settings; 0 means every CPU core."""
    return settings.n_threads or os.cpu_count() or 1


def gpu_offload_available() -> bool:
    """True when this llama.cpp build can offload layers to a GPU."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def open_llama(
    path: Path | str,
    settings: ServingSettings,
    *,
    n_ctx: int | None = None,
    logits_all: bool = False,
    vocab_only: bool = False,
) -> Any:
    """A ``llama_cpp.Llama`` for the GGUF at ``path`` (``vocab_only`` loads the tokenizer alone)."""
    import llama_cpp

    path = Path(path)
    if not path.is_file():
        raise LightdomError(f"{path}: model file is missing")
    threads = thread_count(settings)
    try:
        return llama_cpp.Llama(
            str(path),
            n_ctx=n_ctx or settings.n_ctx,
            n_batch=settings.n_batch,
            n_threads=threads,
            # llama.cpp's prompt pass otherwise takes every core, whatever n_threads says.
            n_threads_batch=threads,
            n_gpu_layers=settings.n_gpu_layers,
            logits_all=logits_all,
            vocab_only=vocab_only,
            verbose=False,
        )
    except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
        raise LightdomError(f"{path}: llama.cpp cannot load it: {exc}") from exc


def open_weights(path: Path | str, settings: ServingSettings) -> Any:
    """The raw ``llama_model`` pointer of the GGUF at ``path`` (for the batched decoder's own context).

    Free it with ``llama_cpp.llama_model_free``.
    """
    import llama_cpp
    from llama_cpp._logger import set_verbose
    from llama_cpp._utils import suppress_stdout_stderr

    set_verbose(False)  # what Llama(verbose=False) does: llama.cpp's log callback prints errors only
    path = Path(path)
    if not path.is_file():
        raise LightdomError(f"{path}: model file is missing")
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = settings.n_gpu_layers if settings.n_gpu_layers >= 0 else 0x7FFFFFFF
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs the load on stderr otherwise
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise LightdomError(f"{path}: llama.cpp cannot load it: Failed to load model from file (not a GGUF, or damaged)")
    return model
