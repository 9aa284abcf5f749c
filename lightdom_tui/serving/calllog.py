"""Every gateway call into the loop, written after the answer has gone out.

A :class:`CallLogger` thread takes :class:`CallRecord` s from a queue and, per call:
1. writes its ``RequestLog`` row (version, arm, engine, latency, tokens, finish
   reason, confidence) and its ``GatewayCall`` row (the messages and the answer under
   the id the client got, PII-scrubbed as curation would keep them), in one transaction;
2. runs the after-request hooks (``serving.hooks``): an A/B arm's own local answer
   is a validity outcome, and monitoring re-checks a deployment every
   ``monitoring.check_every`` logged requests;
3. for a sampled share of calls (by a hash of the call id so it is reproducible, at
   the rate of the call's route: :func:`sample_rate`), stores a PII-scrubbed copy as a
   pending example with its provenance (``metadata.gateway``: call id, version, arm,
   engine, box).

A locked database or a full disk loses the log line (counted in ``/metrics`` as
``log_failures``), never the answer. A streamed call whose client went away is logged
as cancelled: its partial answer is neither sampled nor an A/B outcome. Feedback
(``POST /v1/feedback``) finds the call in the database, so a verdict on any logged
call works, also after a restart, and turns it into a curation decision and an A/B
outcome.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.serving.hooks import Served, check_alerts, record_ab_outcome
from lightdom_tui.settings import ServingSettings, parse_route_rate
from lightdom_tui.workspace import Workspace

log = logging.getLogger(__name__)
VERDICTS = ("accept", "reject", "correct")
CANCELLED = "cancelled:"  # the error of a call whose client went away before its answer
WRITE_WAIT_S = 10.0  # a verdict sent right after its answer waits this long for the call to be written


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
    cancelled: bool = False  # a streamed call whose client went away: decoding stopped
    request_log_id: int | None = None
    example_id: int | None = None
    done: threading.Event = field(default_factory=threading.Event)


def sampled(call_id: str, rate: float) -> bool:
    """Whether this call is copied into curation (a stable hash of its id against ``rate``)."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(call_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def route_rates(entries: list[str]) -> dict[str, float]:
    """``serving.log_sample_routes`` (entries ``ROUTE=RATE``) as a dict; a bad entry is named."""
    rates = {}
    for i, entry in enumerate(entries):
        try:
            route, rate = parse_route_rate(entry)
        except ValueError as exc:
            raise LightdomError(f"serving.log_sample_routes[{i}]: {entry!r} {exc}") from None
        rates[route] = rate
    return rates


def sample_rate(settings: ServingSettings, model: str) -> float:
    """The share of calls to ``model`` (the request's route: ``task:TYPE``, a version or alias, a remote
    route) copied into curation: its entry in ``serving.log_sample_routes``, else ``serving.log_sample_rate``."""
    return route_rates(settings.log_sample_routes).get(model, settings.log_sample_rate)


class CallLogger:
    """The writer thread of one gateway (see the module docstring)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.box = socket.gethostname()
        self.failures = 0
        self._queue: queue.Queue[CallRecord | None] = queue.Queue()
        self._unwritten: dict[str, CallRecord] = {}  # queued, not yet in the database
        self._lock = threading.Lock()
        self._verdicts = threading.Lock()  # one verdict at a time: two on one call make one example
        self._thread = threading.Thread(target=self._run, name="lightdom-calllog", daemon=True)
        self._thread.start()

    def submit(self, record: CallRecord) -> None:
        """Queue ``record`` for writing (returns at once)."""
        with self._lock:
            self._unwritten[record.call_id] = record
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
                with self._lock:
                    self._unwritten.pop(record.call_id, None)
            record.done.set()

    def _write(self, record: CallRecord) -> None:
        from lightdom_tui.db.jsoncol import dumps
        from lightdom_tui.db.models import GatewayCall, RequestLog

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
            kept = self._scrubbed([*record.messages, *([record.answer] if record.answer is not None else [])])
            session.add(GatewayCall(call_id=record.call_id, request_log_id=row.id, model=record.model,
                                    messages_json=dumps(kept[:len(record.messages)]),
                                    answer_json=dumps(kept[-1]) if record.answer is not None else None))
            served = Served(log_id=row.id, engine=record.engine, success=record.success, latency_ms=record.latency_ms,
                            deployment_id=record.deployment_id, ab_test_id=record.ab_test_id, arm=record.arm,
                            request_key=record.request_key)
            if not record.cancelled:  # a client that left says nothing about the arm
                record_ab_outcome(session, served)
        check_alerts(self.ws, served)
        if (record.success and record.answer is not None and not record.cancelled
                and sampled(record.call_id, sample_rate(self.ws.settings.serving, record.model))):
            record.example_id = self._store_example(record, status="pending")

    def _scrubbed(self, conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``conversation`` with PII replaced when the workspace anonymises (``curation.anonymise``)."""
        if not self.ws.settings.curation.anonymise:
            return conversation
        from lightdom_tui.curation.pii import anonymise_messages

        return anonymise_messages(conversation, self.ws.settings.curation.pii_kinds)

    def _store_example(self, record: CallRecord, *, status: str, answer: dict[str, Any] | None = None,
                       reason: str | None = None, parent_id: int | None = None) -> int:
        """A curation example of the call (its own answer, or ``answer`` for a correction).

        The call's own example is remembered on its ``GatewayCall`` row, so a later verdict reuses it.
        """
        from lightdom_tui.curation.examples import add_example
        from lightdom_tui.db.models import GatewayCall

        conversation = self._scrubbed([*record.messages, answer or record.answer])
        metadata = {"format": "gateway", "model": record.version or record.model, "latency_ms": record.latency_ms,
                    "gateway": {"id": record.call_id, "version": record.version, "arm": record.arm,
                                "ab_test_id": record.ab_test_id, "engine": record.engine, "box": self.box,
                                "request_log_id": record.request_log_id}}
        with self.ws.session() as session:
            example = add_example(session, conversation, task_type=record.task_type, source="gateway", status=status,
                                  metadata=metadata, confidence=record.confidence, parent_id=parent_id,
                                  reject_reason=reason, context_tokens=self.ws.settings.curation.context_tokens)
            call = session.get(GatewayCall, record.call_id) if answer is None else None
            if call is not None:
                call.example_id = example.id
                session.add(call)
            return int(example.id)

    # -- feedback -----------------------------------------------------------------------------
    def feedback(self, call_id: str, verdict: str, reason: str | None = None,
                 correction: Any = None) -> dict[str, Any]:
        """Turn a verdict on call ``call_id`` into a curation decision and an A/B outcome."""
        if verdict not in VERDICTS:
            raise LightdomError(f"verdict: {verdict!r} is not one of {', '.join(VERDICTS)}")
        with self._lock:
            unwritten = self._unwritten.get(call_id)
        if unwritten is not None:  # answered a moment ago: its log line is on the way
            unwritten.done.wait(WRITE_WAIT_S)
        with self._verdicts:
            return self._judge(call_id, verdict, reason, correction)

    def _judge(self, call_id: str, verdict: str, reason: str | None, correction: Any) -> dict[str, Any]:
        record = self.logged(call_id)
        if record is None:
            raise LightdomError(f"id: no logged gateway call {call_id!r}")
        if record.cancelled:
            raise LightdomError(f"id: call {call_id!r} was cancelled (its client disconnected); there is no answer to judge")
        if record.answer is None:
            raise LightdomError(f"id: call {call_id!r} failed; there is no answer to judge")
        from lightdom_tui.curation.actions import approve, reject

        example_id = self._existing_example(record.example_id) or self._store_example(record, status="pending")
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

    def logged(self, call_id: str) -> CallRecord | None:
        """Call ``call_id`` as the database holds it (None when it was never logged)."""
        from lightdom_tui.db.jsoncol import loads
        from lightdom_tui.db.models import GatewayCall, RequestLog

        with self.ws.session() as session:
            call = session.get(GatewayCall, call_id)
            row = session.get(RequestLog, call.request_log_id) if call is not None else None
            if call is None or row is None:
                return None
            return CallRecord(
                call_id=call.call_id, task_type=row.task_type, engine=row.engine, model=call.model,
                messages=loads(call.messages_json, []), answer=loads(call.answer_json), latency_ms=row.latency_ms,
                version=row.model_name, version_id=row.version_id, deployment_id=row.deployment_id,
                ab_test_id=row.ab_test_id, arm=row.arm, request_key=row.request_key,
                prompt_tokens=row.prompt_tokens or 0, completion_tokens=row.completion_tokens or 0,
                confidence=row.confidence, fallback=row.fallback, success=row.success, error=row.error,
                cancelled=(row.error or "").startswith(CANCELLED), request_log_id=row.id, example_id=call.example_id,
            )

    def _existing_example(self, example_id: int | None) -> int | None:
        """``example_id`` if that example still exists (curation may have deleted it)."""
        if example_id is None:
            return None
        from lightdom_tui.db.models import Example

        with self.ws.session() as session:
            return example_id if session.get(Example, example_id) is not None else None

