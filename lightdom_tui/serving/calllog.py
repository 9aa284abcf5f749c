"""Every gateway call into the loop, written after the answer has gone out.

A :class:`CallLogger` thread takes :class:`CallRecord` s from a queue and, per call:
1. writes its ``RequestLog`` row (version, arm, engine, latency, tokens, finish
   reason, confidence);
2. runs the after-request hooks (``serving.hooks``): an A/B arm's own local answer
   is a validity outcome, and monitoring re-checks a deployment every
   ``monitoring.check_every`` logged requests;
3. for a sampled share of calls (``serving.log_sample_rate``, by a hash of the call
   id so it is reproducible), stores a PII-scrubbed copy as a pending example with
   its provenance (``metadata.gateway``: call id, version, arm, engine, box).

A locked database or a full disk loses the log line (counted in ``/metrics`` as
``log_failures``), never the answer. Feedback (``POST /v1/feedback``) finds the call
in the recent-call memory (or its sampled example) and turns the verdict into a
curation decision and an A/B outcome.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.serving.hooks import Served, check_alerts, record_ab_outcome
from lightdom_tui.workspace import Workspace

log = logging.getLogger(__name__)
RECENT_CALLS = 10_000
VERDICTS = ("accept", "reject", "correct")


@dataclass
class CallRecord:
    """One answered (or failed) gateway call."""

    call_id: str
    task_type: str
    engine: str  # local / remote
    model: str
    messages: list[dict[str, Any]]
    answer: dict[str, Any] | None  # the assistant message
    latency_ms: float
    version: str | None = None
    version_id: int | None = None
    deployment_id: int | None = None
    ab_test_id: int | None = None
    arm: str | None = None
    request_key: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    confidence: float | None = None
    fallback: bool = False
    success: bool = True
    error: str | None = None
    request_log_id: int | None = None
    example_id: int | None = None
    done: threading.Event = field(default_factory=threading.Event)


def sampled(call_id: str, rate: float) -> bool:
    """Whether this call is copied into curation (a stable hash of its id against ``rate``)."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(call_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


class CallLogger:
    """The writer thread of one gateway (see the module docstring)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.box = socket.gethostname()
        self.failures = 0
        self._queue: queue.Queue[CallRecord | None] = queue.Queue()
        self._recent: OrderedDict[str, CallRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lightdom-calllog", daemon=True)
        self._thread.start()

    def submit(self, record: CallRecord) -> None:
        """Queue ``record`` for writing (returns at once)."""
        with self._lock:
            self._recent[record.call_id] = record
            while len(self._recent) > RECENT_CALLS:
                self._recent.popitem(last=False)
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is written (tests, shutdown)."""
        done = threading.Event()
        marker = CallRecord("", "", "", "", [], None, 0.0)
        marker.done = done
        self._queue.put(marker)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def recent(self, call_id: str) -> CallRecord | None:
        """A call still in memory."""
        with self._lock:
            return self._recent.get(call_id)

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            if record.call_id:
                try:
                    self._write(record)
                except Exception as exc:  # locked database, full disk: the answer already went out
                    self.failures += 1
                    log.warning("gateway call %s not logged: %s", record.call_id, exc)
            record.done.set()

    def _write(self, record: CallRecord) -> None:
        from lightdom_tui.db.models import RequestLog

        with self.ws.session() as session:
            row = RequestLog(
                task_type=record.task_type, engine=record.engine, version_id=record.version_id,
                model_name=record.version or record.model, deployment_id=record.deployment_id,
                ab_test_id=record.ab_test_id, arm=record.arm, request_key=record.request_key,
                latency_ms=record.latency_ms, prompt_tokens=record.prompt_tokens,
                completion_tokens=record.completion_tokens, success=record.success, fallback=record.fallback,
                confidence=record.confidence, error=(record.error or "")[:500] or None,
            )
            session.add(row)
            session.flush()
            record.request_log_id = row.id
            served = Served(log_id=row.id, engine=record.engine, success=record.success, latency_ms=record.latency_ms,
                            deployment_id=record.deployment_id, ab_test_id=record.ab_test_id, arm=record.arm,
                            request_key=record.request_key)
            record_ab_outcome(session, served)
        check_alerts(self.ws, served)
        if record.success and record.answer is not None and sampled(record.call_id, self.ws.settings.serving.log_sample_rate):
            record.example_id = self._store_example(record, status="pending")

    def _store_example(self, record: CallRecord, *, status: str, answer: dict[str, Any] | None = None,
                       reason: str | None = None, parent_id: int | None = None) -> int:
        from lightdom_tui.curation.examples import add_example
        from lightdom_tui.curation.pii import anonymise_messages

        conversation = [m for m in record.messages] + [answer or record.answer]
        if self.ws.settings.curation.anonymise:
            conversation = anonymise_messages(conversation, self.ws.settings.curation.pii_kinds)
        metadata = {"format": "gateway", "model": record.version or record.model, "latency_ms": record.latency_ms,
                    "gateway": {"id": record.call_id, "version": record.version, "arm": record.arm,
                                "ab_test_id": record.ab_test_id, "engine": record.engine, "box": self.box,
                                "request_log_id": record.request_log_id}}
        with self.ws.session() as session:
            example = add_example(session, conversation, task_type=record.task_type, source="gateway", status=status,
                                  metadata=metadata, confidence=record.confidence, parent_id=parent_id,
                                  reject_reason=reason, context_tokens=self.ws.settings.curation.context_tokens)
            return int(example.id)

    # -- feedback -----------------------------------------------------------------------------
    def feedback(self, call_id: str, verdict: str, reason: str | None = None,
                 correction: Any = None) -> dict[str, Any]:
        """Turn a verdict on call ``call_id`` into a curation decision and an A/B outcome."""
        if verdict not in VERDICTS:
            raise LightdomError(f"verdict: {verdict!r} is not one of {', '.join(VERDICTS)}")
        record = self.recent(call_id)
        if record is None:
            raise LightdomError(f"id: no recent call {call_id!r} (unknown, or older than the last {RECENT_CALLS})")
        record.done.wait(10)
        if record.answer is None:
            raise LightdomError(f"id: call {call_id!r} failed; there is no answer to judge")
        from lightdom_tui.curation.actions import approve, reject

        example_id = record.example_id or self._store_example(record, status="pending")
        record.example_id = example_id
        corrected_id = None
        if verdict == "accept":
            approve(self.ws, [example_id])
        elif verdict == "reject":
            reject(self.ws, [example_id], reason or "rejected by the caller")
        else:
            if isinstance(correction, str):
                answer = {"role": "assistant", "content": correction}
            elif isinstance(correction, dict) and correction.get("role") == "assistant":
                answer = correction
            else:
                raise LightdomError("correction: expected the corrected answer (a string or an assistant message)")
            corrected_id = self._store_example(record, status="approved", answer=answer, parent_id=example_id)
            reject(self.ws, [example_id], reason or f"corrected by #{corrected_id}")
        outcome = None
        if record.ab_test_id is not None and record.arm is not None and record.engine == "local":
            from lightdom_tui.registry.ab import record_outcome

            signal = "accept" if verdict == "accept" else "reject"
            with self.ws.session() as session:
                record_outcome(session, record.ab_test_id, record.arm, signal=signal, success=verdict == "accept",
                               latency_ms=record.latency_ms, request_key=record.request_key)
            outcome = signal
        return {"id": call_id, "verdict": verdict, "example_id": example_id, "corrected_example_id": corrected_id,
                "ab_outcome": outcome}

