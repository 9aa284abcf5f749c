"""CLI commands the TUI lacked (issue 19's audit): `workflow train-export`, `scheduler tick` / `due`, `cleanup`,
`pack` / `unpack` / `sync export` and `generate --model`, each driven from the keyboard and asserting the state
the CLI's (or the service's) test asserts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import func, select

from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


def _log(app) -> str:  # noqa: ANN001
    return "\n".join(str(line) for line in app.query_one("#workflow-log").lines)


async def test_training_examples_from_a_run_and_the_scheduler(workspace) -> None:  # noqa: ANN001
    """On a workflow, t turns its latest completed run into attribute-generation examples (attributes valid on
    too few pages left out), dedup-aware the second time, as `workflow train-export`; U lists the next due time
    of each scheduled workflow and S claims and runs the one due now, as `scheduler due` / `scheduler tick`."""
    from lightdom_tui.db.models import Example, Workflow, WorkflowRun
    from lightdom_tui.orchestration import tree
    from lightdom_tui.usecases.campaign import run_workflow

    pages = workspace.root / "pages"  # file sources live inside the workspace (orchestration policy)
    pages.mkdir()
    for n in range(4):
        price = f"<span class=price>{n}.50</span>" if n else ""  # one page lacks a price
        (pages / f"{n}.html").write_text(f"<title>Item {n}</title><h1>Item {n}</h1>{price}", encoding="utf-8")
    with workspace.session() as session:
        campaign = tree.create_campaign(session, "shop", status="active")
        session.flush()
        crawl = tree.create_workflow(session, campaign.id, "crawl", status="active")
        nightly = tree.create_workflow(session, campaign.id, "nightly", trigger="schedule", status="active",
                                       trigger_config={"cron": "* * * * *"})
        session.flush()
        for workflow in (crawl, nightly):
            service = tree.create_service(session, workflow.id, "files", type="file",
                                          config={"paths": [str(pages / "*.html")]})
            session.flush()
            stream = tree.create_datastream(session, service.id, "products")
            session.flush()
            tree.create_attribute(session, stream.id, "title", selector="title")
            tree.create_attribute(session, stream.id, "heading", selector="h1")
            tree.create_attribute(session, stream.id, "price", type="number", selector="span.price")
        nightly.created_at = datetime.now(timezone.utc) - timedelta(minutes=3)  # a minute has come due since
        crawl_id, nightly_id = crawl.id, nightly.id
    assert run_workflow(workspace, crawl_id).status == "completed"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space")  # open the campaign
        await settle(pilot)
        await pilot.press("down")  # workflow "crawl"
        await settle(pilot)
        for attempt in ("first", "again"):
            await pilot.press("t")
            await pilot.pause()
            await pilot.press("ctrl+s")  # the latest completed run, min valid rate 0.8, pending
            await settle(pilot)
        created = [t for t in _messages(app) if t.startswith("run ")]
        assert created[0].endswith(": 1 example(s) created, 0 duplicate(s), 0 skipped")
        assert created[1].endswith(": 0 example(s) created, 1 duplicate(s), 0 skipped")
        await pilot.press("U")
        await settle(pilot)
        assert f"#{nightly_id} nightly  active  cron * * * * * (UTC)  next due " in _log(app)
        await pilot.press("S")
        await settle(pilot)
        assert "claimed 1, skipped 0" in _messages(app)
    with workspace.session() as session:
        example = session.exec(select(Example)).one()
        runs = session.exec(select(WorkflowRun).where(WorkflowRun.workflow_id == nightly_id)).all()
        assert session.get(Workflow, nightly_id).status == "active"
    answer = json.loads(json.loads(example.messages_json)[-1]["content"])
    assert [a["name"] for a in answer["attributes"]] == ["title", "heading"]  # price: 3 of 4 pages < 80 %
    assert (example.source, example.status, example.task_type) == ("workflow", "pending", "attribute_generation")
    assert [(r.trigger, r.status) for r in runs] == [("schedule", "completed")]


async def test_cleanup_from_the_curation_pane(workspace, tmp_path) -> None:  # noqa: ANN001
    """C removes quarantine rows older than the days given (a dry run only counts), never examples, as
    `lightdom cleanup --days 0`."""
    from lightdom_tui.curation.ingest import ingest_paths
    from lightdom_tui.db.models import Example, Quarantine

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}\n'
                   "{not json\n", encoding="utf-8")
    ingest_paths(workspace, [bad])
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for dry_run in ("yes", "no"):
            await pilot.press("C")
            await pilot.pause()
            app.screen.query_one("#form-days").value = "0"
            app.screen.query_one("#form-dry_run").value = dry_run
            await pilot.press("ctrl+s")
            await settle(pilot)
        assert _messages(app)[-2:] == ["would remove 1 quarantine rows, 0 processed files, 0 gateway conversations",
                                       "removed 1 quarantine rows, 0 processed files, 0 gateway conversations"]
    with workspace.session() as session:
        assert session.exec(select(func.count()).select_from(Quarantine)).one() == 0
        assert session.exec(select(func.count()).select_from(Example)).one() == 1


async def test_pack_unpack_and_sync_export_from_the_registry_pane(workspace, embedded_gguf, tmp_path) -> None:  # noqa: ANN001
    """K packs the selected deployed version into one file (its task routes in it); U on another workspace
    registers it (sha256 checked) and serves its routes, as `lightdom pack` / `unpack`; S writes the calls file
    `lightdom sync export` writes."""
    from lightdom_tui.db.models import Deployment, ModelVersion
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.usecases.registry import DeployRequest, deploy
    from lightdom_tui.workspace import create_workspace

    with workspace.session() as session:
        register_version(session, version="tuned-v1", kind="gguf", format="gguf", path=embedded_gguf)
    deploy(workspace, DeployRequest("tuned-v1", "attribute_generation", health="none"))
    packed = tmp_path / "tuned-v1.ldpack"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.query_one("#versions")
        table.move_cursor(row=table.get_row_index("tuned-v1"))
        await settle(pilot)
        await pilot.press("K")
        await pilot.pause()
        app.screen.query_one("#form-output").value = str(packed)
        await pilot.press("ctrl+s")
        await settle(pilot)
        line = next(t for t in _messages(app) if t.startswith("packed "))
    assert line.startswith(f"packed tuned-v1 → {packed} (") and line.endswith("routes: attribute_generation)")
    edge = create_workspace(tmp_path / "edge")
    calls = tmp_path / "calls.jsonl"
    app = create_app(edge)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("U")
            await pilot.pause()
            app.screen.query_one("#form-source").value = str(packed)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert any(t.startswith("registered tuned-v1 (") and t.endswith("serving: attribute_generation")
                       for t in _messages(app))
            assert "tuned-v1" in app.query_one("#versions").rows  # the refresh bus
            await pilot.press("S")
            await pilot.pause()
            app.screen.query_one("#form-output").value = str(calls)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert any(t.startswith("0 call(s), 0 with a verdict, from ") and t.endswith(f"→ {calls}")
                       for t in _messages(app))
        with edge.session() as session:
            version = session.exec(select(ModelVersion).where(ModelVersion.version == "tuned-v1")).one()
            routes = session.exec(select(Deployment.task_type).where(Deployment.version_id == version.id,
                                                                     Deployment.status == "active")).all()
        assert routes == ["attribute_generation"] and calls.is_file()
    finally:
        edge.close()


@pytest.mark.slow
async def test_generate_with_the_selected_version(workspace) -> None:  # noqa: ANN001
    """g asks the selected version for attributes and shows them with model, engine and latency, the request
    logged, as `lightdom generate TOPIC --count 3 --model V`."""
    from lightdom_tui.db.models import RequestLog
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION

    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()
        app.screen.query_one("#form-topic").value = "blog post"
        app.screen.query_one("#form-count").value = "3"
        await pilot.press("ctrl+s")
        await settle(pilot)
        shown = str(app.query_one("#version-detail").render())
    assert f"{EMBEDDED_VERSION} via local, " in shown
    with workspace.session() as session:
        logged = session.exec(select(RequestLog)).one()
    assert (logged.engine, logged.success, logged.model_name) == ("local", True, EMBEDDED_VERSION)
    names = [line.split(" (")[0] for line in shown.splitlines()[:-1]]
    assert 1 <= len(names) <= 3 and all(f"{name} (" in shown for name in names)


async def test_import_a_workflow_into_the_selected_campaign(workspace) -> None:  # noqa: ANN001
    """O on a workflow writes its document; W on the campaign imports it under another name with its service
    and data stream, all or nothing, as `workflow export` / `workflow import --campaign`."""
    from lightdom_tui.db.models import DataStream, Service, Workflow
    from tests.tui.test_tui_campaign import build_branch

    build_branch(workspace)
    doc = workspace.root / "daily.yaml"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space", "down")  # open the campaign, land on workflow "daily"
        await settle(pilot)
        await pilot.press("O")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(doc)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("up", "W")  # back on the campaign
        await pilot.pause()
        app.screen.query_one("#form-path").value = str(doc)
        app.screen.query_one("#form-name").value = "daily-copy"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any(t.endswith("'daily-copy' imported into shop") for t in _messages(app))
        assert str(app.query_one("#campaign-tree").cursor_node.label) == "⚙ daily-copy"
    with workspace.session() as session:
        names = session.exec(select(Workflow.name).order_by(Workflow.id)).all()
        copy = session.exec(select(Workflow).where(Workflow.name == "daily-copy")).one()
        service = session.exec(select(Service).where(Service.workflow_id == copy.id)).one()
        stream = session.exec(select(DataStream).where(DataStream.service_id == service.id)).one()
    assert names == ["daily", "daily-copy"] and (service.name, stream.name) == ("pages", "products")


async def test_doctor_from_the_tui(workspace) -> None:  # noqa: ANN001
    """f4 runs the checks `lightdom doctor` runs (its use case) and shows them in a dialog that escape closes."""
    import platform

    from lightdom_tui.tui.screens.dialogs import ReportScreen

    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = str(app.screen.query_one("#report-text").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportScreen)
    assert f"python        {platform.python_version()}" in text
    assert f"workspace     {workspace.root} (ok)" in text and "settings      ok" in text
