"""LightDom TUI: local-first curation, fine-tuning and serving of small open-weights models."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def log_call(*args: Any, **kwargs: Any) -> Any:
    """Log one LLM call as a pending training example (see ``curation.logging.log_call``)."""
    from lightdom_tui.curation.logging import log_call as _log_call

    return _log_call(*args, **kwargs)


__all__ = ["__version__", "log_call"]
