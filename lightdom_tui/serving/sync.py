"""Bring an edge box's calls back: ``lightdom sync export``.

Writes the box's gateway calls that reached curation (the sampled, PII-scrubbed copies
and every call someone gave feedback on), with their verdicts, as one JSONL file in
the chat format ``lightdom ingest`` reads. Each record carries its provenance in
``metadata``: ``source`` = ``edge:BOX``, the box, the version and arm that answered,
the call id, the verdict (``decision``) and the reason. On the workstation, ingest
imports them as pending examples; an exact duplicate (the same call exported twice) is
skipped there, and a file imported before is not read again.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Example
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

VERDICTS = {"approved": "accept", "rejected": "reject"}


@dataclass
class SyncExport:
    """What ``sync export`` wrote."""

    path: str
    box: str
    records: int
    since: str | None
    verdicts: int


def parse_since(text: str | None) -> datetime | None:
    """``--since`` as a UTC datetime (an ISO date or date-time); None means everything."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LightdomError(f"--since {text!r}: expected an ISO date or date-time, e.g. 2026-11-30 or "
                            "2026-11-30T12:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def export_calls(ws: Workspace, out: Path, *, since: str | None = None) -> SyncExport:
    """Write the gateway calls changed since ``since`` (see the module docstring) to ``out``."""
    moment = parse_since(since)
    box = socket.gethostname()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    records = verdicts = 0
    # Which export brought a record (metadata only: the content hash ignores it, so a call
    # exported twice is still one example on the workstation).
    synced_at, sync_id = datetime.now(UTC).isoformat(timespec="seconds"), uuid.uuid4().hex[:12]
    with ws.session() as session, tmp.open("w", encoding="utf-8") as handle:
        query = select(Example).where(Example.source == "gateway").order_by(col(Example.id))
        if moment is not None:  # new calls, and older ones whose verdict came later
            query = query.where((col(Example.created_at) >= moment) | (col(Example.updated_at) >= moment))
        for example in session.exec(query):
            metadata = loads(example.metadata_json, {}) or {}
            call = metadata.get("gateway") or {}
            decision = VERDICTS.get(example.status)
            if example.parent_id is not None:
                decision = "correct"  # a caller's correction of an earlier answer
            verdicts += decision is not None
            provenance = {
                "source": f"edge:{call.get('box') or box}", "box": call.get("box") or box,
                "version": call.get("version"), "arm": call.get("arm"), "call_id": call.get("id"),
                "engine": call.get("engine"), "decision": decision, "reject_reason": example.reject_reason,
                "task_type": example.task_type, "model": metadata.get("model"),
                "latency_ms": metadata.get("latency_ms"), "logged_at": example.created_at.isoformat(),
                "synced_at": synced_at, "sync_id": sync_id,
            }
            record = {"messages": loads(example.messages_json, []),
                      "metadata": {k: v for k, v in provenance.items() if v is not None}}
            if example.confidence is not None:
                record["metadata"]["confidence"] = example.confidence
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            records += 1
    os.replace(tmp, out)
    return SyncExport(str(out), box, records, moment.isoformat() if moment else None, verdicts)
