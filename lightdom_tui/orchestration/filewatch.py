"""File trigger: watch each file-trigger workflow's path (watchfiles) and run it on changes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlmodel import select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Workflow
from lightdom_tui.orchestration.executor import RunResult, run_workflow
from lightdom_tui.orchestration.policy import load_policy
from lightdom_tui.orchestration.triggers import WatchSpec, watched_path
from lightdom_tui.workspace import Workspace

log = logging.getLogger(__name__)


def file_workflows(ws: Workspace) -> list[WatchSpec]:
    """Active file-trigger workflows and the paths they watch (only paths inside the allowed folders)."""
    policy = load_policy(ws.root)
    with ws.session() as session:
        rows = session.exec(select(Workflow).where(Workflow.trigger == "file", Workflow.status == "active")).all()
        specs = []
        for workflow in rows:
            path = watched_path(ws.root, loads(workflow.trigger_config_json, {}))
            if policy.inside(os.path.realpath(path)):
                specs.append(WatchSpec(workflow.id, path))
            else:
                log.warning("workflow %s: not watching %s (outside the workspace and the allowed folders)",
                            workflow.id, path)
        return specs


def matching_workflows(specs: list[WatchSpec], changed: set[Path]) -> list[int]:
    """Workflows whose watched file or folder contains one of the changed paths."""
    hits = []
    for spec in specs:
        target = spec.path.resolve()
        if any(p.resolve() == target or target in p.resolve().parents for p in changed):
            hits.append(spec.workflow_id)
    return hits


def watch_files(ws: Workspace, *, stop_event: threading.Event, debounce_ms: int = 300,
                on_run: Callable[[RunResult | None], None] | None = None) -> None:
    """Block until ``stop_event``: run a workflow each time something under its path changes."""
    from watchfiles import watch

    specs = file_workflows(ws)
    roots: set[Path] = set()
    for spec in specs:
        folder = spec.path if spec.path.is_dir() else spec.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        roots.add(folder)
    if not roots:
        return
    for changes in watch(*sorted(roots), stop_event=stop_event, debounce=debounce_ms, rust_timeout=500,
                         yield_on_timeout=True, raise_interrupt=False):
        if not changes:
            continue
        changed = {Path(path) for _change, path in changes}
        for workflow_id in matching_workflows(specs, changed):
            try:
                result = run_workflow(ws, workflow_id, trigger="file")
            except Exception:  # recorded on the run; keep watching
                result = None
            if on_run is not None:
                on_run(result)
