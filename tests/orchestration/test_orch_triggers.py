"""Triggers: cron due times across DST, racing schedulers, webhook tokens, file watching."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import func, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Workflow, WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.scheduler import due_now, tick
from lightdom_tui.orchestration.triggers import due_times, latest_due, next_due
from lightdom_tui.orchestration.webhook import WebhookServer, issue_token
from lightdom_tui.workspace import open_workspace

UTC = timezone.utc


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _iso(moments):
    return [m.strftime("%m-%d %H:%M") for m in moments]


def test_cron_berlin_spring_forward():
    # 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist and runs once at the jump (01:00 UTC)
    daily = due_times("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 27, 12), _utc(2026, 3, 30, 12))
    assert _iso(daily) == ["03-28 01:30", "03-29 01:00", "03-30 00:30"]
    hourly = due_times("0 * * * *", "Europe/Berlin", _utc(2026, 3, 28, 23, 30), _utc(2026, 3, 29, 2, 30))
    assert _iso(hourly) == ["03-29 00:00", "03-29 01:00", "03-29 02:00"]  # every real hour, no duplicate


def test_cron_berlin_fall_back():
    # 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice; a daily job runs once
    daily = due_times("30 2 * * *", "Europe/Berlin", _utc(2026, 10, 24, 12), _utc(2026, 10, 26, 12))
    assert _iso(daily) == ["10-25 00:30", "10-26 01:30"]
    # an hourly job keeps running every real hour through the repeated hour
    hourly = due_times("0 * * * *", "Europe/Berlin", _utc(2026, 10, 24, 23, 30), _utc(2026, 10, 25, 2, 30))
    assert _iso(hourly) == ["10-25 00:00", "10-25 01:00", "10-25 02:00"]


def test_cron_new_york_weekly_across_dst():
    # 09:00 local each Monday: 14:00 UTC in EST, 13:00 UTC after 2026-03-08 (EDT)
    first = next_due("0 9 * * 1", "America/New_York", _utc(2026, 3, 1))
    second = next_due("0 9 * * 1", "America/New_York", first)
    assert (first, second) == (_utc(2026, 3, 2, 14), _utc(2026, 3, 9, 13))
    assert latest_due("0 9 * * 1", "America/New_York", _utc(2026, 3, 1), _utc(2026, 3, 20)) == _utc(2026, 3, 16, 13)
    assert latest_due("0 9 * * 1", "America/New_York", _utc(2026, 3, 16, 13), _utc(2026, 3, 20)) is None


def test_trigger_validation_names_the_field(ws):
    with ws.session() as s:
        c = tree.create_campaign(s, "c")
        with pytest.raises(LightdomError, match="trigger_config.cron"):
            tree.create_workflow(s, c.id, "w", trigger="schedule", trigger_config={"cron": "61 * * * *"})
        with pytest.raises(LightdomError, match="trigger_config.timezone: unknown timezone 'Mars/Base'"):
            tree.create_workflow(s, c.id, "w", trigger="schedule",
                                 trigger_config={"cron": "0 * * * *", "timezone": "Mars/Base"})
        with pytest.raises(LightdomError, match="trigger: 'sometimes'"):
            tree.create_workflow(s, c.id, "w", trigger="sometimes")


def _scheduled(ws, n: int) -> list[int]:
    with ws.session() as s:
        c = tree.create_campaign(s, "sched")
        ids = []
        for i in range(n):
            w = tree.create_workflow(s, c.id, f"w{i}", trigger="schedule", status="active",
                                     trigger_config={"cron": "*/5 * * * *", "timezone": "Europe/Berlin"})
            tree.create_service(s, w.id, "files", type="file", config={"paths": []})
            ids.append(w.id)
        return ids


def _run_counts(ws):
    with ws.session() as s:
        return dict(s.exec(select(WorkflowRun.workflow_id, func.count()).group_by(WorkflowRun.workflow_id)).all())


def test_two_schedulers_in_threads_never_double_run(ws):
    ids = _scheduled(ws, 4)
    base = datetime.now(UTC)
    for step in range(3):  # three rounds of due times, both schedulers racing each round
        now = base + timedelta(minutes=5 * (step + 1) + 1)
        barrier = threading.Barrier(2)
        results = []

        # each scheduler has its own engine and connections, like a second process
        # (opening one migrates under a lock, so threads may open at once)
        owns = [open_workspace(ws.root) for _ in range(2)]

        def scheduler(own, now=now, barrier=barrier, results=results):
            barrier.wait(timeout=5)
            results.append(tick(own, now))

        threads = [threading.Thread(target=scheduler, args=(own,)) for own in owns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for own in owns:
            own.close()
        claimed = sum(len(r.claimed) for r in results)
        skipped = sum(len(r.skipped) for r in results)
        assert claimed == 4, (step, results)
        assert claimed + skipped <= 8
    assert _run_counts(ws) == {i: 3 for i in ids}
    with ws.session() as s:
        runs = s.exec(select(WorkflowRun)).all()
        assert all(r.status == "completed" and r.trigger == "schedule" for r in runs)
        assert len({(r.workflow_id, r.due_time) for r in runs}) == len(runs)
        assert due_now(s, base + timedelta(minutes=16)) == []  # nothing left due


def test_scheduler_process_and_this_process_never_double_run(ws, tmp_path):
    ids = _scheduled(ws, 3)
    now = datetime.now(UTC) + timedelta(minutes=7)
    # a second scheduler process signals "ready" after its imports; then both tick at once
    code = (
        "import sys, time, pathlib; from datetime import datetime; "
        "from lightdom_tui.workspace import open_workspace; from lightdom_tui.orchestration.scheduler import tick; "
        "ws = open_workspace(sys.argv[1]); go = pathlib.Path(sys.argv[3]); (go.parent / 'ready').touch(); "
        "end = time.time() + 30\n"
        "while not go.exists() and time.time() < end: time.sleep(0.002)\n"
        "r = tick(ws, datetime.fromisoformat(sys.argv[2])); print(len(r.claimed), len(r.skipped))"
    )
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", code, str(ws.root), now.isoformat(), str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    mine = tick(ws, now)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    theirs = int(out.split()[0])
    assert len(mine.claimed) + theirs == 3
    assert _run_counts(ws) == {i: 1 for i in ids}


def _webhook_workflow(ws, http_server):
    with ws.session() as s:
        c = tree.create_campaign(s, "hooks")
        w = tree.create_workflow(s, c.id, "on-push", trigger="webhook", status="active")
        svc = tree.create_service(s, w.id, "page", type="html", config={"urls": [http_server.url("/page/5")]})
        ds = tree.create_datastream(s, svc.id, "pages")
        tree.create_attribute(s, ds.id, "heading", selector="h1")
        token = issue_token(s, w.id)
        return w.id, token


def test_webhook_token(ws, http_server):
    workflow_id, token = _webhook_workflow(ws, http_server)
    with ws.session() as s:
        stored = s.get(Workflow, workflow_id).trigger_config_json
    assert token not in stored and "token_sha256" in loads(stored)
    server = WebhookServer(ws).start()
    try:
        url = f"{server.url}/hooks/{workflow_id}"
        assert httpx.post(url, timeout=5).status_code == 401
        assert httpx.post(url, headers={"X-Lightdom-Token": "wrong"}, timeout=5).status_code == 401
        assert httpx.post(f"{server.url}/hooks/999", headers={"X-Lightdom-Token": token}, timeout=5).status_code == 401
        time.sleep(0.3)
        assert _run_counts(ws) == {}  # nothing ran
        ok = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert ok.status_code == 202
        run_id = ok.json()["run_id"]
    finally:
        server.stop()  # waits for the started run
    with ws.session() as s:
        run = s.get(WorkflowRun, run_id)
        assert (run.status, run.trigger) == ("completed", "webhook")
        assert loads(run.metrics_json)["rows"] == 1


def test_webhook_refuses_non_loopback(ws):
    with pytest.raises(LightdomError, match="loopback"):
        WebhookServer(ws, host="0.0.0.0")


def test_file_trigger_runs_on_change(ws, tmp_path):
    from lightdom_tui.orchestration.filewatch import watch_files

    inbox = ws.root / "drop"  # workflows read and watch inside the workspace (or folders allowed in settings)
    inbox.mkdir()
    with ws.session() as s:
        c = tree.create_campaign(s, "files")
        w = tree.create_workflow(s, c.id, "on-drop", trigger="file", status="active",
                                 trigger_config={"path": str(inbox)})
        svc = tree.create_service(s, w.id, "dropped", type="file", config={"paths": [str(inbox / "*.html")]})
        ds = tree.create_datastream(s, svc.id, "dropped")
        tree.create_attribute(s, ds.id, "heading", selector="h1")
    stop = threading.Event()
    results = []
    watcher = threading.Thread(target=watch_files, args=(ws,),
                               kwargs={"stop_event": stop, "debounce_ms": 100, "on_run": results.append})
    watcher.start()
    try:
        time.sleep(0.5)  # let the watcher start
        (inbox / "a.html").write_text("<h1>Dropped</h1>")
        deadline = time.monotonic() + 8
        while not results and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()
    assert results and results[0].status == "completed" and results[0].metrics["rows"] == 1


def test_runs_of_a_dead_process_are_failed_by_the_next_tick_and_by_stop(ws):
    from lightdom_tui.orchestration.executor import request_stop

    [workflow_id] = _scheduled(ws, 1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that existed and ended: a run "killed mid-way"
    with ws.session() as s:
        dead = WorkflowRun(workflow_id=workflow_id, trigger="manual", pid=gone.pid)
        alive = WorkflowRun(workflow_id=workflow_id, trigger="manual", pid=os.getpid())
        s.add_all([dead, alive])
        s.flush()
        dead_id, alive_id = dead.id, alive.id
    result = tick(ws, datetime.now(UTC), execute=False)
    assert result.failed_stale == [dead_id]
    with ws.session() as s:
        row = s.get(WorkflowRun, dead_id)
        assert (row.status, row.error) == ("failed", f"process {gone.pid} ended without finishing the run")
        assert s.get(WorkflowRun, alive_id).status == "running"
        assert request_stop(s, workflow_id=workflow_id) == [alive_id]


def test_threads_opening_an_old_database_at_once_all_migrate_it(ws):
    from alembic import command

    from lightdom_tui.db.engine import _alembic_config, create_db_engine, current_revision, head_revision

    ws.close()
    engine = create_db_engine(ws.db_path)
    config = _alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    engine.dispose()
    opened, errors = [], []

    def open_it() -> None:
        try:
            opened.append(open_workspace(ws.root))
        except Exception as exc:  # noqa: BLE001 - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(opened) == 4
    assert {current_revision(w.engine) for w in opened} == {head_revision()}
    for w in opened:
        w.close()
