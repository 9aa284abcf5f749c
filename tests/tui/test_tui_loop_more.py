"""More CLI features reachable from the TUI (issue 19): each driven from the keyboard, asserting the database
or file state the CLI command leaves (same use case underneath)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from lightdom_tui.db.models import ModelVersion
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def test_add_base_from_the_registry_pane(workspace, embedded_gguf) -> None:  # noqa: ANN001
    """A registers a local GGUF as a base version in place, as `models add-base PATH --name` does; an empty
    path is one line, nothing registered."""
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("A")
        await pilot.pause()
        await pilot.press("ctrl+s")  # no path
        await settle(pilot)
        assert any("path: give a Hugging Face model folder" in t for t in _messages(app))
        await pilot.press("A")
        await pilot.pause()
        app.screen.query_one("#form-path").value = str(embedded_gguf)
        app.screen.query_one("#form-name").value = "local-smol"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "registered local-smol: gguf llama" in _messages(app)
        assert "local-smol" in app.query_one("#versions").rows  # the refresh bus
    with workspace.session() as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.version == "local-smol")).one()
    assert (row.kind, row.format, row.architecture, row.quant) == ("base", "gguf", "llama", "q4_1")
    assert row.path == str(embedded_gguf.resolve())


async def test_campaign_token_metrics_rows_export_import(workspace, monkeypatch) -> None:  # noqa: ANN001
    """On the campaign tree: O exports the campaign, M shows the workflow's metrics, T issues a webhook token
    shown once (its hash stored), V shows the data stream's rows capped with 'showing N of M', I imports the
    document under another name — what `campaign export`, `workflow metrics`, `workflow token`,
    `datastream rows` and `campaign import` leave."""
    import yaml

    from lightdom_tui.db.models import Campaign, Workflow
    from lightdom_tui.orchestration import tree
    from lightdom_tui.orchestration.triggers import hash_token
    from lightdom_tui.tui.screens.campaign_views import ShownOnceScreen, StreamRowsScreen
    from lightdom_tui.usecases.campaign import run_workflow

    pages = workspace.root / "pages"
    pages.mkdir()
    for n in range(3):
        (pages / f"p{n}.html").write_text(f"<title>Page {n}</title><h1>Heading {n}</h1>", encoding="utf-8")
    with workspace.session() as session:
        campaign = tree.create_campaign(session, "docs", status="active")
        session.flush()
        local = tree.create_workflow(session, campaign.id, "local", status="active")
        hook = tree.create_workflow(session, campaign.id, "hook", trigger="webhook")
        session.flush()
        service = tree.create_service(session, local.id, "files", type="file",
                                      config={"paths": [str(pages / "*.html")]})
        session.flush()
        stream = tree.create_datastream(session, service.id, "pages")
        session.flush()
        tree.create_attribute(session, stream.id, "title", selector="title")
        local_id, hook_id = local.id, hook.id
    assert run_workflow(workspace, local_id).status == "completed"
    monkeypatch.setattr("lightdom_tui.tui.widgets.campaign.ops_actions.ROWS_SHOWN", 2)  # the cap, made small
    doc = workspace.root / "docs.yaml"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("O")  # the campaign under the cursor
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(doc)
        await pilot.press("enter")
        await settle(pilot)
        assert f"exported to {doc}" in _messages(app)
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("down")  # workflow "local"
        await settle(pilot)
        await pilot.press("M")
        await settle(pilot)
        log = "\n".join(str(line) for line in app.query_one("#workflow-log").lines)
        assert "'rows': 3" in log and "success 1.0" in log
        await pilot.press("down", "T")  # workflow "hook"
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ShownOnceScreen)
        token = str(app.screen.query_one("#shown-secret").render())
        await pilot.press("escape")
        await pilot.press("up", "space")  # back to "local", open it
        await settle(pilot)
        await pilot.press("down", "space")  # service "files", open it
        await settle(pilot)
        await pilot.press("down", "V")  # data stream "pages"
        await settle(pilot)
        assert isinstance(app.screen, StreamRowsScreen)
        assert app.screen.query_one("#stream-rows").row_count == 2
        assert str(app.screen.query_one("#stream-rows-count").render()) == "showing 2 of 3 row(s) (the latest)"
        await pilot.press("escape", "I")
        await pilot.pause()
        app.screen.query_one("#form-path").value = str(doc)
        app.screen.query_one("#form-name").value = "docs2"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any(t.endswith("'docs2' imported") for t in _messages(app))
        assert "◆ docs2" in [str(n.label) for n in app.query_one("#campaign-tree").root.children]
    assert yaml.safe_load(doc.read_text(encoding="utf-8"))["campaign"]["name"] == "docs"
    with workspace.session() as session:
        copy = session.exec(select(Campaign).where(Campaign.name == "docs2")).one()
        assert len(session.exec(select(Workflow).where(Workflow.campaign_id == copy.id)).all()) == 2
        config = json.loads(session.get(Workflow, hook_id).trigger_config_json)
    assert len(token) > 20 and config["token_sha256"] == hash_token(token)


async def test_watch_the_inbox_on_and_off(workspace) -> None:  # noqa: ANN001
    """ctrl+w watches the inbox in a worker (the status bar says so): a file dropped in is ingested and moved
    to processed/, as `lightdom watch` does; ctrl+w again stops the watcher."""
    import asyncio
    import os
    import time

    from lightdom_tui.db.models import Example
    from tests.tui.conftest import conversation

    async def until(condition) -> None:  # noqa: ANN001
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.1)

    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
      try:
        await settle(pilot)
        await pilot.press("ctrl+w")  # from here on settle() would wait for the watcher: poll instead
        await until(lambda: "watching inbox" in str(app.query_one("#status-bar").render()))
        dropped = workspace.inbox_dir / "drop.jsonl"
        dropped.write_text("".join(json.dumps({"messages": conversation(i)}) + "\n" for i in range(3)),
                           encoding="utf-8")
        settled = time.time() - 60
        os.utime(dropped, (settled, settled))
        await until(lambda: "inbox drop.jsonl: read 3, imported 3, duplicates 0, quarantined 0" in _messages(app))
        assert (workspace.processed_dir / "drop.jsonl").exists() and not dropped.exists()
        await pilot.press("ctrl+w")
        await until(lambda: any(t.startswith("stopped watching the inbox: 1 file(s)") for t in _messages(app)))
        await pilot.pause()
        assert "watching" not in str(app.query_one("#status-bar").render())
        assert app.watch_stop is None
      finally:
        app.stop_watch_now()  # a failed assertion must not leave the watcher thread holding the test
    with workspace.session() as session:
        assert len(session.exec(select(Example)).all()) == 3


async def test_toolgen_from_the_curation_pane(workspace) -> None:  # noqa: ANN001
    """G generates tool-use examples from function definitions and scenarios, as `lightdom toolgen` does."""
    from pathlib import Path

    from lightdom_tui.db.models import Example

    data = Path(__file__).parents[1] / "curation" / "data"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("G")
        await pilot.pause()
        app.screen.query_one("#form-tools").value = str(data / "tools.json")
        app.screen.query_one("#form-scenarios").value = str(data / "scenarios.json")
        app.screen.query_one("#form-seed").value = "1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        line = next(t for t in _messages(app) if t.startswith("generated "))
        assert line.startswith("generated 13: imported ") and line.endswith("error cases 3")
    imported = int(line.split("imported ")[1].split(",")[0])
    with workspace.session() as session:
        examples = session.exec(select(Example).where(Example.source == "toolgen")).all()
    assert len(examples) == imported >= 8 and {e.task_type for e in examples} == {"tool_use"}


@pytest.mark.slow
async def test_training_form_exports_the_script_instead_of_training(workspace, tiny_model_dir, tmp_path) -> None:  # noqa: ANN001
    """A folder in the form's 'export script to' writes the standalone script and its config and trains
    nothing, as `lightdom train --export-script DIR` does."""
    from lightdom_tui.db.models import TrainingRun
    from tests.tui.test_tui_training_registry import prepare

    prepare(workspace, tiny_model_dir)
    out = tmp_path / "export"
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#form-base").value = "tiny"
        app.screen.query_one("#form-preset").value = "tiny-cpu"
        for key, value in {"lora_r": "4", "batch_size": "2", "seed": "3", "max_seq_len": "256",
                           "packing": "no", "export_script": str(out)}.items():  # as --lora-r 4 … --no-packing
            app.screen.query_one(f"#form-{key}").value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert f"wrote {out / 'train.py'} and {out / 'config.json'}" in _messages(app)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["method"] == "lora" and json.dumps(config["base_model"])
    assert (config["lora_r"], config["batch_size"], config["seed"], config["max_seq_len"], config["packing"]) == (
        4, 2, 3, 256, False)  # the form's hyper-parameters, as the CLI's flags give them
    assert "lightdom_tui" not in (out / "train.py").read_text(encoding="utf-8").replace("LightDom", "")
    with workspace.session() as session:
        assert session.exec(select(TrainingRun)).all() == []  # nothing trained


async def test_training_runs_table_stays_readable_at_80x24(workspace) -> None:  # noqa: ANN001
    """At 80x24 the runs table shows run, status, preset and step whole (it takes the larger share)."""
    from lightdom_tui.db.models import TrainingRun

    with workspace.session() as session:
        session.add(TrainingRun(status="completed", preset="tiny-cpu", method="lora", step=20, total_steps=20))
    app = create_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = app.query_one("#runs")
        assert table.row_count == 1
        needed = sum(table.columns[key].get_render_width(table) for key in ("run", "status", "preset", "step"))
        assert table.scrollable_content_region.width >= needed
