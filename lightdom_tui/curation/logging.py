"""`lightdom_tui.log_call(...)`: record one LLM call as a pending training example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightdom_tui.curation.examples import add_example
from lightdom_tui.curation.formats import RecordError, parse_record
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace, open_workspace


def log_call(
    *,
    home: Path | str | None = None,
    workspace: Workspace | None = None,
    task_type: str,
    prompt: str | None = None,
    messages: list[dict[str, Any]] | None = None,
    output: str | dict[str, Any] | list[Any],
    model: str | None = None,
    latency_ms: float | None = None,
    cost: float | None = None,
    confidence: float | None = None,
    decision: str | None = None,
    metadata: dict[str, Any] | None = None,
    source: str = "log",
    status: str = "pending",
) -> int:
    """Store a call (``prompt`` or ``messages`` plus ``output``) as an example; returns its id.

    An identical call already logged returns the existing id. The workspace is
    ``workspace``, else ``home``, else $LIGHTDOM_HOME / the current directory.
    """
    if (prompt is None) == (messages is None):
        raise LightdomError("log_call: give exactly one of prompt= or messages=")
    record: dict[str, Any] = {"task_type": task_type, "output": output, "metadata": dict(metadata or {})}
    if prompt is not None:
        record["prompt"] = prompt
    else:
        record["messages"] = messages
    for key, value in (("model", model), ("latency_ms", latency_ms), ("cost", cost), ("decision", decision),
                       ("confidence", confidence)):
        if value is not None:
            record[key] = value
    try:
        parsed = parse_record(record)
    except RecordError as exc:
        raise LightdomError(f"log_call: {exc}") from None
    ws = workspace or open_workspace(home)
    try:
        with ws.session() as session:
            example = add_example(
                session, parsed.messages, task_type=task_type, source=source, status=status,
                metadata={**parsed.metadata, "format": "call_log"}, confidence=parsed.confidence,
                context_tokens=ws.settings.curation.context_tokens,
            )
            return int(example.id)
    finally:
        if workspace is None:
            ws.close()
