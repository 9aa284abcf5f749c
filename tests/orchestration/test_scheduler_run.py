"""`lightdom scheduler run` as users start it: one process with its thread pool, the file
watcher and the webhook server; real cron, file and webhook triggers fire, then SIGTERM
stops it cleanly (exit 0, one JSON object, every run finished)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
from sqlmodel import select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Workflow, WorkflowRun
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.webhook import issue_token


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _workflow(session, campaign_id: int, name: str, pages: str, **trigger) -> int:
    workflow = tree.create_workflow(session, campaign_id, name, status="active", **trigger)
    service = tree.create_service(session, workflow.id, f"{name}-pages", type="file", config={"paths": [pages]})
    stream = tree.create_datastream(session, service.id, f"{name}-rows")
    tree.create_attribute(session, stream.id, "heading", selector="h1")
    return workflow.id


def _runs(ws) -> list[WorkflowRun]:
    with ws.session() as session:
        return list(session.exec(select(WorkflowRun).order_by(WorkflowRun.id)).all())


def _wait_for(ws, predicate, seconds: float, poke=None) -> list[WorkflowRun]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = _runs(ws)
        if predicate(runs):
            return runs
        if poke is not None:
            poke()
        time.sleep(0.25)
    raise AssertionError(f"timed out; runs so far: {[(r.workflow_id, r.trigger, r.status) for r in _runs(ws)]}")


def test_scheduler_run_fires_cron_file_and_webhook_triggers_then_stops_cleanly(ws):
    pages, drop = ws.root / "pages", ws.root / "drop"
    pages.mkdir()
    drop.mkdir()
    (pages / "one.html").write_text("<h1>Scheduled</h1>")
    with ws.session() as session:
        campaign = tree.create_campaign(session, "always-on")
        cron = [_workflow(session, campaign.id, f"every-minute-{i}", str(pages / "*.html"), trigger="schedule",
                          trigger_config={"cron": "* * * * *", "timezone": "UTC"}) for i in range(2)]
        on_file = _workflow(session, campaign.id, "on-drop", str(drop / "*.html"), trigger="file",
                            trigger_config={"path": str(drop)})
        on_hook = _workflow(session, campaign.id, "on-hook", str(pages / "*.html"), trigger="webhook")
        token = issue_token(session, on_hook)
        for workflow_id in cron:  # created ten minutes ago: a minute boundary is due at the first tick
            row = session.get(Workflow, workflow_id)
            row.created_at = datetime.now(timezone.utc) - timedelta(minutes=10)
            session.add(row)
    port = _free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "lightdom_tui.cli", "--home", str(ws.root), "scheduler", "run",
         "--interval", "1", "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # both due workflows are claimed in one tick and run on the pool
        _wait_for(ws, lambda runs: {r.workflow_id for r in runs if r.status == "completed"} >= set(cron), 60)
        accepted = httpx.post(f"http://127.0.0.1:{port}/hooks/{on_hook}", headers={"X-Lightdom-Token": token},
                              timeout=10)
        assert accepted.status_code == 202, accepted.text

        def drop_a_page() -> None:  # rewritten until the watcher (started with the process) sees it
            (drop / "new.html").write_text(f"<h1>Dropped {time.monotonic()}</h1>")

        drop_a_page()
        _wait_for(ws, lambda runs: any(r.trigger == "file" and r.status == "completed" for r in runs), 30,
                  poke=drop_a_page)
        _wait_for(ws, lambda runs: any(r.trigger == "webhook" and r.status == "completed" for r in runs), 30)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=30)
    assert scheduler.returncode == 0, err
    assert "Traceback" not in err
    runs = _runs(ws)
    scheduled = [r for r in runs if r.trigger == "schedule"]
    assert json.loads(out) == {"claimed": len(scheduled)}
    assert {r.workflow_id for r in scheduled} == set(cron)
    assert len({(r.workflow_id, r.due_time) for r in scheduled}) == len(scheduled)  # never a due time twice
    assert {r.workflow_id for r in runs if r.trigger == "file"} == {on_file}
    assert {r.workflow_id for r in runs if r.trigger == "webhook"} == {on_hook}
    assert all(r.status == "completed" and loads(r.metrics_json)["rows"] == 1 for r in runs), [
        (r.trigger, r.status, r.error) for r in runs]
    assert all(r.pid == scheduler.pid for r in runs)
