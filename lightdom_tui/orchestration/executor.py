"""Run a workflow: fetch each service's sources, extract, transform, validate, write rows.

One run, step by step:

1. claim a ``WorkflowRun`` row (a scheduled due time can be claimed once: the
   ``(workflow_id, due_time)`` unique constraint decides between racing schedulers);
2. snapshot the tree below the workflow into plain dataclasses (no session held);
3. per service, fetch network sources with at most ``workflow.concurrency`` in
   flight (local files are read in order on the run's thread); every page is parsed
   once, on the thread that fetched it, and each data stream takes its values;
4. every ``ROW_BATCH`` pages (and at least once a second) each stream transforms and
   validates its buffered values column by column and writes the rows to its
   destination; per-page problems become log lines; between pages the run checks
   ``stop_requested`` (cooperative stop);
5. metrics (pages, rows, invalid values, duration, success rate …) and the final
   status (completed / failed / stopped) are stored on the run.

Nothing waits without a bound: fetches have deadlines, the loop polls with timeouts.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import Attribute, DataStream, Service, Workflow, WorkflowLog, WorkflowRun, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.destinations import now_iso, open_destination
from lightdom_tui.orchestration.extract import (
    ExtractJob,
    Field,
    PageValues,
    extract_page,
    extract_result,
    stream_fields,
)
from lightdom_tui.orchestration.fetch import Fetcher, FetchOptions, FetchResult
from lightdom_tui.orchestration.policy import AccessPolicy, load_policy
from lightdom_tui.orchestration.transform import Pipeline
from lightdom_tui.orchestration.validate import Validator
from lightdom_tui.processes import pid_alive
from lightdom_tui.workspace import Workspace

Progress = Callable[[int, int], None]
STOP_POLL_S = 0.5  # how often the stop flag is read from the database (a stop lands within this)
LOG_FLUSH_S = 1.0  # how often buffered log lines and live metrics are written
ROW_BATCH = 100  # pages validated and written together (measured: 100 beat 500 and 2,000; less held in memory)
MAX_PAGE_LOGS = 1000
_STOP_QUERY = text("SELECT stop_requested FROM workflowrun WHERE id = :id")  # per run; beyond this a summary line says how many were left out


# --------------------------------------------------------------------------- plan


@dataclass
class StreamPlan:
    """A data stream as the executor needs it."""

    id: int
    name: str
    destination: str
    fields: list[Field]
    types: dict[str, str]
    validators: dict[str, Validator]
    pipeline: Pipeline


@dataclass
class ServicePlan:
    """A service, its sources and its streams."""

    id: int
    name: str
    type: str
    config: dict[str, Any]
    sources: list[str]
    streams: list[StreamPlan]
    refused: list[str] = field(default_factory=list)  # why configured sources were left out (logged)


@dataclass
class RunResult:
    """Outcome of one workflow run."""

    run_id: int
    workflow_id: int
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _sources(policy: AccessPolicy, service: Service, config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The service's pages, and why any configured source was left out (outside the allowed folders)."""
    if service.type in ("http", "html"):
        urls = config.get("urls") or ([config["url"]] if config.get("url") else [])
        return list(urls), []
    if service.type == "file":
        found: list[str] = []
        refused: list[str] = []
        for pattern in config.get("paths") or []:
            where = f"service {service.name!r}: paths entry"
            try:
                policy.check_pattern(pattern, where)
            except LightdomError as exc:
                refused.append(f"{exc}; skipped")
                continue
            kept, outside = policy.matching_files(pattern)  # a folder matched is a page error later
            if outside:
                refused.append(f"{where} {pattern!r}: {outside} match(es) lead outside the workspace and the "
                               f"allowed folders (links); skipped")
            found.extend(kept)
        return found, refused
    return list(config.get("topics") or []), []


def _checked_destination(policy: AccessPolicy, stream: DataStream) -> str:
    """A ``jsonl:`` destination as its resolved path inside the allowed folders (LightdomError otherwise)."""
    kind, _, target = stream.destination.partition(":")
    if kind != "jsonl":
        return stream.destination
    return f"jsonl:{policy.check_path(target, f'datastream {stream.id} ({stream.name}).destination')}"


def load_plan(ws: Workspace, workflow_id: int,
              policy: AccessPolicy | None = None) -> tuple[Workflow, list[ServicePlan]]:
    """Snapshot the workflow's services, streams and attributes, their paths checked against ``policy``.

    A ``jsonl:`` destination outside the allowed folders refuses the whole run (nothing is
    fetched); file sources outside them are left out, each with a reason in ``refused``.
    """
    policy = policy or load_policy(ws.root)
    with ws.session() as session:
        workflow = session.get(Workflow, workflow_id)
        if workflow is None:
            raise LightdomError(f"workflow {workflow_id}: not found")
        plans: list[ServicePlan] = []
        for service in session.exec(select(Service).where(Service.workflow_id == workflow_id).order_by(Service.id)):
            config = loads(service.config_json, {})
            streams = []
            for stream in session.exec(select(DataStream).where(DataStream.service_id == service.id)
                                       .order_by(DataStream.id)):
                attributes = list(session.exec(select(Attribute).where(Attribute.datastream_id == stream.id)
                                               .order_by(Attribute.id)))
                names = [a.name for a in attributes]
                streams.append(StreamPlan(
                    id=stream.id, name=stream.name, destination=_checked_destination(policy, stream),
                    fields=[Field(a.name, a.selector, a.type == "array") for a in attributes],
                    types={a.name: a.type for a in attributes},
                    validators={a.name: Validator(a.name, a.type, loads(a.validation_json, {})) for a in attributes},
                    pipeline=Pipeline(loads(stream.transformations_json, []), names),
                ))
            sources, refused = _sources(policy, service, config)
            plans.append(ServicePlan(service.id, service.name, service.type, config, sources, streams, refused))
        return workflow, plans


# --------------------------------------------------------------------------- claim / stop


def _utc(moment: datetime | None) -> datetime | None:
    """Aware UTC (naive means UTC), so equal due times are equal in the unique index."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def claim_run(ws: Workspace, workflow_id: int, *, trigger: str = "manual", due_time: datetime | None = None) -> int | None:
    """Insert the run row; None when this due time was already claimed (by any process)."""
    try:
        with ws.session() as session:
            run = WorkflowRun(workflow_id=workflow_id, trigger=trigger, due_time=_utc(due_time), pid=os.getpid())
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        return None


def fail_stale_runs(session: Session) -> list[int]:
    """Mark "running" runs whose process is gone (killed mid-run) as failed; returns their ids."""
    stale = []
    for run in session.exec(select(WorkflowRun).where(WorkflowRun.status == "running")).all():
        if run.pid is None or pid_alive(run.pid):
            continue  # rows from before migration 0002 carry no pid: leave them to `workflow stop`
        run.status, run.finished_at = "failed", utcnow()
        run.error = f"process {run.pid} ended without finishing the run"
        session.add(run)
        stale.append(run.id)
    return stale


def request_stop(session: Session, *, workflow_id: int | None = None, run_id: int | None = None) -> list[int]:
    """Ask running runs (of a workflow, or one run) to stop; returns their ids.

    Runs whose process is gone are failed first (nobody is left to honour the request).
    """
    fail_stale_runs(session)
    query = select(WorkflowRun).where(WorkflowRun.status == "running")
    if run_id is not None:
        query = query.where(WorkflowRun.id == run_id)
    elif workflow_id is not None:
        query = query.where(WorkflowRun.workflow_id == workflow_id)
    else:
        raise LightdomError("stop: name a workflow or a run")
    ids = []
    for run in session.exec(query).all():
        run.stop_requested = True
        session.add(run)
        ids.append(run.id)
    return ids


# --------------------------------------------------------------------------- the run


class _Run:
    """State of one executing run (counters, buffered logs, stop checks)."""

    def __init__(self, ws: Workspace, run_id: int, stop_event: threading.Event | None, deadline_s: float | None,
                 policy: AccessPolicy | None = None):
        self.ws = ws
        self.policy = policy
        self.run_id = run_id
        self.stop_event = stop_event or threading.Event()
        self.deadline = time.monotonic() + deadline_s if deadline_s else None
        self.started = time.monotonic()
        self.logs: list[dict[str, Any]] = []  # WorkflowLog rows as plain values (an ORM object costs ~35 us)
        self.page_logs = 0
        self.page_logs_dropped = 0
        self.stopped = False
        self._next_stop_poll = 0.0
        self._next_flush = time.monotonic() + LOG_FLUSH_S
        self.sinks: list[_StreamSink] = []
        self.m: dict[str, Any] = {"pages": 0, "pages_ok": 0, "pages_failed": 0, "rows": 0, "invalid_values": 0,
                                  "missing_values": 0, "retries": 0, "sources": 0}

    # ---- logging and metrics
    def log(self, message: str, level: str = "info", *, page: bool = False) -> None:
        if page:
            if self.page_logs >= MAX_PAGE_LOGS:
                self.page_logs_dropped += 1
                return
            self.page_logs += 1
        self.logs.append({"run_id": self.run_id, "created_at": utcnow(), "level": level, "message": message[:2000]})

    def metrics(self) -> dict[str, Any]:
        duration = time.monotonic() - self.started
        m = dict(self.m)
        m["streams"], m["attributes"] = {}, {}
        for sink in self.sinks:
            key = str(sink.plan.id)
            m["streams"][key], m["attributes"][key] = sink.metrics()
        m["duration_s"] = round(duration, 3)
        m["pages_per_s"] = round(m["pages"] / duration, 2) if duration > 0 else 0.0
        m["success_rate"] = round(m["pages_ok"] / m["pages"], 4) if m["pages"] else None
        return m

    def flush(self, force: bool = False, metrics: dict[str, Any] | None = None, **final: Any) -> None:
        """Write buffered rows, log lines and live metrics (at most once a second unless forced).

        At the end of a run, the final ``metrics`` and ``final`` columns (status, finished_at,
        error) go into the same transaction.
        """
        now = time.monotonic()
        if not force and now < self._next_flush:
            return
        self._next_flush = now + LOG_FLUSH_S
        for sink in self.sinks:  # a slow crawl shows its rows within a second, not after ROW_BATCH pages
            sink.flush()
        logs, self.logs = self.logs, []
        with self.ws.session() as session:
            if logs:  # one executemany, no unit of work
                session.execute(insert(WorkflowLog.__table__), logs)  # type: ignore[attr-defined]
            session.exec(update(WorkflowRun).where(WorkflowRun.id == self.run_id)
                         .values(metrics_json=dumps(metrics or self.metrics()), **final))

    # ---- stop
    def should_stop(self) -> bool:
        if self.stopped or self.stop_event.is_set():
            self.stopped = True
            return True
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            self.log("run deadline reached: stopping", "warning")
            self.stopped = True
            return True
        if now >= self._next_stop_poll:
            self._next_stop_poll = now + STOP_POLL_S
            with self.ws.engine.connect() as connection:  # a plain read: no ORM session per poll
                requested = connection.execute(_STOP_QUERY, {"id": self.run_id}).scalar()
            if requested:
                self.log("stop requested: stopping after the current page", "warning")
                self.stopped = True
                self.stop_event.set()
        return self.stopped


class _StreamSink:
    """Pages of one data stream, processed a batch at a time, plus its per-attribute counters.

    This is the per-page hot path, so a page only appends its extracted values; every
    ``ROW_BATCH`` pages (and at each periodic flush) the batch is transformed and
    validated column by column and written as rows in the destination's column order.
    (A writer thread was measured too: on 2 cores it lost more to GIL hand-offs than
    it overlapped with SQLite.)
    """

    def __init__(self, ws: Workspace, plan: StreamPlan, run: _Run) -> None:
        self.plan = plan
        self.run = run
        self.dest = open_destination(ws.root, plan.id, plan.name, plan.destination, plan.types)
        self.sources: list[str] = []
        self.pages: list[list[Any]] = []
        self.written = 0
        self.counts = {name: [0, 0, 0] for name in plan.types}  # valid, invalid, missing
        # (name, validator, has transformations, counters) in column order
        self._columns = [(name, plan.validators[name], plan.pipeline.has_steps(name), self.counts[name])
                         for name in plan.types]
        run.sinks.append(self)

    def add(self, source: str, values: list[Any]) -> None:
        """One page's values, in column order."""
        self.sources.append(source)
        self.pages.append(values)
        if len(self.pages) >= ROW_BATCH:
            self.flush()

    def flush(self) -> None:
        """Transform, validate and count the buffered pages, then write their rows."""
        if not self.pages:
            return
        sources, pages, self.sources, self.pages = self.sources, self.pages, [], []
        row_errors: dict[int, list[str]] = {}
        columns: list[Any] = []
        for (name, validator, transforms, counter), column in zip(self._columns, zip(*pages)):
            failed: dict[int, str] = {}
            if transforms:
                column, failed = self.plan.pipeline.apply_column(name, column)
                for index, message in failed.items():
                    row_errors.setdefault(index, []).append(f"{name}: {message}")
            missing, problems = validator.scan(column, failed)
            if problems:
                column = list(column)
                for index, messages in problems:
                    row_errors.setdefault(index, []).extend(messages)
                    column[index] = None  # an invalid value is never written as if it were good
            invalid = len(failed) + len(problems)
            counter[0] += len(pages) - invalid - missing
            counter[1] += invalid
            counter[2] += missing
            self.run.m["missing_values"] += missing
            columns.append(column)
        run_id, stamp = self.run.run_id, now_iso()
        rows = [[run_id, source, stamp, None, *cells] for source, cells in zip(sources, zip(*columns))]
        for index in sorted(row_errors):
            errors = row_errors[index]
            rows[index][3] = errors
            self.run.m["invalid_values"] += len(errors)
            self.run.log(f"{sources[index]}: stream {self.plan.name}: {'; '.join(errors)}", "warning", page=True)
        self.dest.write(rows)
        self.written += len(rows)
        self.run.m["rows"] += len(rows)

    def metrics(self) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
        stream = {"name": self.plan.name, "rows": self.written, "destination": self.dest.target}
        counts = {n: {"valid": c[0], "invalid": c[1], "missing": c[2]} for n, c in self.counts.items()}
        return stream, counts

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.dest.close()


def _fetch_options(config: dict[str, Any]) -> FetchOptions:
    defaults = FetchOptions()
    return FetchOptions(
        timeout_s=float(config.get("timeout_s", defaults.timeout_s)),
        connect_timeout_s=min(float(config.get("timeout_s", defaults.connect_timeout_s)), defaults.connect_timeout_s),
        max_bytes=int(config.get("max_bytes", defaults.max_bytes)),
        retries=int(config.get("retries", defaults.retries)),
        backoff_s=float(config.get("backoff_s", defaults.backoff_s)),
    )


def _extract_job(service: ServicePlan) -> ExtractJob:
    """How this service's pages are parsed: the config's ``format``; else JSON for http APIs, by content type for the rest."""
    fmt = service.config.get("format") or ("json" if service.type == "http" else None)
    return ExtractJob(tuple(stream_fields(s.fields) for s in service.streams),
                      _fetch_options(service.config).max_bytes, fmt)


def _handle_page(sinks: list[_StreamSink], page: PageValues, run: _Run) -> None:
    run.m["pages"] += 1
    run.m["retries"] += page.attempts - 1
    if page.values is None:
        run.m["pages_failed"] += 1
        run.log(f"{page.source}: {page.error}", "error", page=True)
        return
    for sink, values in zip(sinks, page.values):
        sink.add(page.source, values)
    run.m["pages_ok"] += 1


def _llm_fetcher(ws: Workspace, config: dict[str, Any], generator: Callable[..., Any] | None) -> Callable[[str], FetchResult]:
    def fetch(topic: str) -> FetchResult:
        gen = generator
        if gen is None:
            from lightdom_tui.serving.router import generate_attributes

            gen = generate_attributes
        started = time.monotonic()
        try:
            result = gen(ws, topic, count=int(config.get("count", 8)), context=config.get("context"))
        except Exception as exc:  # the model failing is a page error, not a crashed run
            return FetchResult(topic, error=f"model error: {exc}", elapsed_s=time.monotonic() - started)
        doc = {"topic": topic, "attributes": list(result.attributes), "model": result.model, "engine": result.engine}
        return FetchResult(topic, body=json.dumps(doc).encode(), content_type="application/json",
                           elapsed_s=time.monotonic() - started)

    return fetch


def _run_service(ws: Workspace, service: ServicePlan, concurrency: int, run: _Run,
                 progress: Progress | None, generator: Callable[..., Any] | None) -> None:
    sinks = [_StreamSink(ws, stream, run) for stream in service.streams]
    job = _extract_job(service)
    try:
        if service.type == "file":
            _run_files(service.sources, job, sinks, run, progress)
            return
        with Fetcher(_fetch_options(service.config), run.policy) as fetcher:
            if service.type == "llm":
                fetch_one: Callable[[str], FetchResult] = _llm_fetcher(ws, service.config, generator)
                concurrency = 1  # one lock per loaded model anyway
            else:
                def fetch_one(source: str) -> FetchResult:
                    return fetcher.fetch(source, run.stop_event.is_set)

            def load(source: str) -> PageValues:  # on a fetch thread: the page is parsed there too
                return extract_result(fetch_one(source), job)

            if concurrency <= 1:
                for source in service.sources:
                    if run.should_stop():
                        break
                    _handle_page(sinks, load(source), run)
                    _tick(run, progress)
            else:
                _run_pool(service.sources, load, sinks, concurrency, run, progress)
    finally:
        for sink in sinks:
            sink.close()


def _tick(run: _Run, progress: Progress | None) -> None:
    if progress is not None:
        progress(run.m["pages"], run.m["sources"])
    run.flush()


def _run_files(sources: list[str], job: ExtractJob, sinks: list[_StreamSink], run: _Run,
               progress: Progress | None) -> None:
    """Local pages, in order, on this thread.

    Measured on 2 cores (2,000 pages): reading and parsing on other threads (lexbor
    parses without the GIL) made the run 1.7× slower, each thread waiting for the GIL
    the other held; a forkserver process pool took 0.43 s warm (1.6 s for the first
    run) against 0.34 s here, start-up and pickling costing more than they saved.
    """
    for source in sources:
        if run.should_stop():
            return
        _handle_page(sinks, extract_page(source, job), run)
        _tick(run, progress)


def _run_pool(sources: list[str], load: Callable[[str], PageValues], sinks: list[_StreamSink],
              concurrency: int, run: _Run, progress: Progress | None) -> None:
    """Network sources: up to ``concurrency`` fetches in flight, handled as they complete."""
    pending: set[Future[PageValues]] = set()
    remaining = iter(sources)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"wf-fetch-{run.run_id}")
    try:
        while True:
            while len(pending) < concurrency and not run.stopped:
                source = next(remaining, None)
                if source is None:
                    break
                pending.add(pool.submit(load, source))
            if not pending:
                break
            done, pending = wait(pending, timeout=STOP_POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                _handle_page(sinks, future.result(), run)
                _tick(run, progress)
            if run.should_stop():
                break
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)  # in-flight fetches end within their deadline


def run_workflow(
    ws: Workspace,
    workflow_id: int,
    *,
    trigger: str = "manual",
    due_time: datetime | None = None,
    run_id: int | None = None,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    deadline_s: float | None = None,
    generator: Callable[..., Any] | None = None,
) -> RunResult | None:
    """Execute one run of a workflow; None when ``due_time`` was already claimed by another scheduler.

    ``generator`` (default: the serving router) answers llm services; ``stop_event`` or
    ``workflow stop`` (``stop_requested`` in the database) stop it between pages.
    """
    try:
        policy = load_policy(ws.root)
        workflow, plans = load_plan(ws, workflow_id, policy)
    except LightdomError as exc:  # a refused destination, bad settings: a claimed run must not stay "running"
        if run_id is not None:
            _Run(ws, run_id, stop_event, deadline_s).flush(force=True, metrics={}, status="failed",
                                                          finished_at=utcnow(), error=str(exc))
        raise
    if run_id is None:
        run_id = claim_run(ws, workflow_id, trigger=trigger, due_time=due_time)
        if run_id is None:
            return None
    run = _Run(ws, run_id, stop_event, deadline_s, policy)
    run.m["sources"] = sum(len(p.sources) for p in plans)
    run.log(f"run {run_id} of workflow {workflow.name!r} ({trigger}): {len(plans)} service(s), "
            f"{run.m['sources']} source(s)")
    status, error = "completed", None
    try:
        for plan in plans:
            if run.should_stop():
                break
            for reason in plan.refused:
                run.log(reason, "error")
            if not plan.sources:
                run.log(f"service {plan.name!r}: no sources configured", "warning")
            if not plan.streams:
                run.log(f"service {plan.name!r}: no data streams; pages are fetched but nothing is written", "warning")
            _run_service(ws, plan, workflow.concurrency, run, progress, generator)
        if run.stopped:
            status = "stopped"
        elif run.m["pages"] and not run.m["pages_ok"]:
            status, error = "failed", "every page failed"
        elif not run.m["pages"] and any(plan.refused for plan in plans):
            status, error = "failed", "every configured source was refused (outside the allowed folders)"
    except Exception as exc:  # record any crash on the run, then re-raise for the caller
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        run.log(error, "error")
        _finish(run, status, error)
        raise
    if run.page_logs_dropped:
        run.log(f"{run.page_logs_dropped} more page messages not logged", "warning")
    metrics = _finish(run, status, error)
    return RunResult(run_id=run_id, workflow_id=workflow_id, status=status, metrics=metrics, error=error)


def _finish(run: _Run, status: str, error: str | None) -> dict[str, Any]:
    metrics = run.metrics()
    run.log(f"run {status}: {metrics['pages']} page(s), {metrics['rows']} row(s), "
            f"{metrics['invalid_values']} invalid value(s) in {metrics['duration_s']}s")
    run.flush(force=True, metrics=metrics, status=status, finished_at=utcnow(), error=error)
    return metrics


# --------------------------------------------------------------------------- logs and metrics


def run_logs(session: Session, *, workflow_id: int | None = None, run_id: int | None = None,
             limit: int = 200, level: str | None = None) -> list[WorkflowLog]:
    """Log lines of one run, or of a workflow's latest run (oldest first, last ``limit``)."""
    if run_id is None:
        if workflow_id is None:
            raise LightdomError("logs: name a workflow or a run")
        run_id = session.exec(select(WorkflowRun.id).where(WorkflowRun.workflow_id == workflow_id)
                              .order_by(WorkflowRun.id.desc())).first()  # type: ignore[union-attr]
        if run_id is None:
            return []
    query = select(WorkflowLog).where(WorkflowLog.run_id == run_id)
    if level:
        query = query.where(WorkflowLog.level == level)
    rows = list(session.exec(query.order_by(WorkflowLog.id.desc()).limit(limit)).all())  # type: ignore[union-attr]
    return list(reversed(rows))


@dataclass
class WorkflowMetrics:
    """Per-run metrics of a workflow plus totals."""

    workflow_id: int
    runs: list[dict[str, Any]]
    totals: dict[str, Any]


def workflow_metrics(session: Session, workflow_id: int, *, limit: int = 20) -> WorkflowMetrics:
    """Recent runs' metrics and totals (runs by status, rows, invalid values, success rate)."""
    runs = list(session.exec(select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id)
                             .order_by(WorkflowRun.id.desc()).limit(limit)).all())  # type: ignore[union-attr]
    items = []
    by_status: dict[str, int] = {}
    pages = pages_ok = rows = invalid = 0
    for run in runs:
        m = loads(run.metrics_json, {})
        by_status[run.status] = by_status.get(run.status, 0) + 1
        pages += m.get("pages", 0)
        pages_ok += m.get("pages_ok", 0)
        rows += m.get("rows", 0)
        invalid += m.get("invalid_values", 0)
        items.append({"run_id": run.id, "status": run.status, "trigger": run.trigger,
                      "due_time": run.due_time.isoformat() if run.due_time else None,
                      "started_at": run.started_at.isoformat(), "error": run.error,
                      **{k: m.get(k) for k in ("pages", "pages_ok", "pages_failed", "rows", "invalid_values",
                                               "missing_values", "retries", "duration_s", "pages_per_s",
                                               "success_rate")}})
    totals = {"runs": len(runs), "by_status": by_status, "pages": pages, "rows": rows, "invalid_values": invalid,
              "success_rate": round(pages_ok / pages, 4) if pages else None,
              "run_success_rate": round(by_status.get("completed", 0) / len(runs), 4) if runs else None}
    return WorkflowMetrics(workflow_id=workflow_id, runs=items, totals=totals)


def result_dict(result: RunResult) -> dict[str, Any]:
    """A run result as JSON-able data."""
    return asdict(result)
