"""CLI features reachable from the TUI (issue 19): each driven from the keyboard, asserting the database
state the CLI command leaves (same use case underneath)."""

from __future__ import annotations

import json
import os
import time

from sqlmodel import select

from lightdom_tui.db.models import ABOutcome, ABTest, Alias, Example, ModelVersion, Quarantine
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import conversation, settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


def _jsonl(path, first: int, n: int, broken: bool = False) -> None:  # noqa: ANN001
    lines = [json.dumps({"messages": conversation(i)}) for i in range(first, first + n)]
    if broken:
        lines.append("{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_ingest_files_and_the_inbox_rules_and_paraphrases(workspace, tmp_path) -> None:  # noqa: ANN001
    """i ingests files (count report, bad line quarantined), then the inbox (file moved to processed/);
    o applies auto-rules as one batch; d flags a paraphrase — the rows `lightdom ingest`, `watch --once`,
    `rules apply` and `examples dedup` leave."""
    data = tmp_path / "two.jsonl"
    _jsonl(data, 0, 2, broken=True)
    inbox_file = workspace.inbox_dir / "drop.jsonl"
    _jsonl(inbox_file, 10, 3)
    settled = time.time() - 60
    os.utime(inbox_file, (settled, settled))  # written a minute ago: settled for the watcher
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#form-paths").value = str(data)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "read 3: imported 2, duplicates 0, quarantined 1 (Q shows the quarantine)" in _messages(app)
        await pilot.press("i")
        await pilot.pause()
        await pilot.press("ctrl+s")  # no paths: the inbox
        await settle(pilot)
        assert any(t.startswith("inbox: 1 file(s), read 3: imported 3") for t in _messages(app))
        assert (workspace.processed_dir / "drop.jsonl").exists() and not inbox_file.exists()
        assert "pending 5" in str(app.query_one("#curation-counters").render())  # the refresh bus
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#form-min_quality").value = "0.5"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any(t.startswith("rules: approved 5, rejected 0, unchanged 0 of 5 pending") for t in _messages(app))
        with workspace.session() as session:  # a paraphrase of #1: same words, one changed
            first = session.get(Example, 1)
            session.expunge(first)
            paraphrase = json.loads(first.messages_json)
            paraphrase[1]["content"] = paraphrase[1]["content"].replace("product page", "product pages")
        from lightdom_tui.curation.examples import add_example

        with workspace.session() as session:
            add_example(session, paraphrase, task_type=first.task_type, source=first.source)
        await pilot.press("d")
        await settle(pilot)
        flagged = next(t for t in _messages(app) if t.startswith("flagged "))
    with workspace.session() as session:
        examples = session.exec(select(Example)).all()
        assert len(examples) == 6
        assert sum(e.status == "approved" for e in examples) == 5
        assert session.exec(select(Quarantine)).one().line == 3
        marked = [e for e in examples if e.near_duplicate_of is not None]
    assert len(marked) == 1 and flagged == "flagged 1 paraphrase(s)"


async def test_datasets_screen_lists_shows_and_exports(tui_workspace) -> None:  # noqa: ANN001
    """D lists the dataset versions with their details; x writes the JSONL files `dataset export` writes."""
    from lightdom_tui.curation import actions
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.query import ExampleFilter
    from lightdom_tui.tui.screens.datasets import DatasetsScreen

    actions.approve(tui_workspace, ExampleFilter())
    built = build_dataset(tui_workspace, "attrs", split=0.75)
    app = create_app(tui_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)
        assert isinstance(app.screen, DatasetsScreen)
        assert "attrs@1" in str(app.screen.query_one("#dataset-detail").render())
        assert f"train {built.n_train} · validation {built.n_validation} · split 0.75" in \
            str(app.screen.query_one("#dataset-detail").render())
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("ctrl+s")  # openai format, default folder
        await settle(pilot)
        status = str(app.screen.query_one("#dataset-status").render())
    written = {line.split(":")[0] for line in status.splitlines()}
    assert len(written) == 2
    records = sum(len(open(path, encoding="utf-8").read().splitlines()) for path in written)
    assert records == 60
    assert all(str(tui_workspace.root) in path for path in written)


async def test_ab_record_promote_end_alerts_check_and_continuous_status(workspace) -> None:  # noqa: ANN001
    """o records an outcome, P promotes arm b, E ends the other test (the rows `ab record` / `ab promote` /
    `ab end` leave); a checks alerts; H shows the alias history; delete removes an unused version;
    C says where continuous training stands."""
    from lightdom_tui.modelio.embedded import EMBEDDED_VERSION, embedded_gguf_path
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.usecases.registry import ABTestRequest, create_ab_test

    with workspace.session() as session:
        register_version(session, version="twin", kind="base", format="gguf", path=embedded_gguf_path())
        register_version(session, version="spare", kind="base", format="gguf", path=embedded_gguf_path())
    create_ab_test(workspace, ABTestRequest(EMBEDDED_VERSION, "twin", 0.5, "attribute_generation", "ab1"))
    create_ab_test(workspace, ABTestRequest(EMBEDDED_VERSION, "twin", 0.5, "tool_use", "ab2"))
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        app.screen.query_one("#form-test").value = "ab1"
        app.screen.query_one("#form-arm").value = "b"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "recorded a success for arm b of ab1" in _messages(app)
        await pilot.press("P")
        await settle(pilot)
        app.screen.query_one("#form-test").value = "ab1"
        app.screen.query_one("#form-arm").value = "b"  # knowingly, over "keep collecting"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "A/B test ab1 ended: arm b promoted" in _messages(app)
        await pilot.press("E")
        await settle(pilot)
        assert app.screen.query_one("#form-test").value == "ab2"  # only running tests are offered
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "A/B test ab2 ended (nothing promoted)" in _messages(app)
        await pilot.press("a")
        await settle(pilot)
        assert any(t.startswith("checked 0 deployment(s): 0 new alert(s)") for t in _messages(app))
        await pilot.press("C")
        await settle(pilot)
        assert any(t.startswith("continuous training: ") for t in _messages(app))
        await pilot.press("H")  # alias history, as `models history`
        await settle(pilot)
        history = str(app.query_one("#version-detail").render())
        assert "production  ab_promote  – → twin  A/B test 'ab1' arm b" in history
        table = app.query_one("#versions")
        table.move_cursor(row=table.get_row_index("spare"))
        await settle(pilot)
        await pilot.press("delete", "y")  # `models delete spare`: nothing uses it
        await settle(pilot)
        assert "deleted spare" in _messages(app)
        assert embedded_gguf_path().exists()  # files outside the workspace's models/ stay
    with workspace.session() as session:
        outcome = session.exec(select(ABOutcome)).one()
        assert (outcome.arm, outcome.success) == ("b", True)
        assert {t.name: t.status for t in session.exec(select(ABTest))} == {"ab1": "ended", "ab2": "ended"}
        alias = session.exec(select(Alias).where(Alias.name == "production")).one()
        assert session.get(ModelVersion, alias.version_id).version == "twin"  # the promoted arm
        assert session.exec(select(ModelVersion).where(ModelVersion.version == "spare")).first() is None


async def test_workflow_detail_says_triggers_need_the_scheduler(workspace) -> None:  # noqa: ANN001
    """A schedule trigger fires only while `lightdom scheduler run` runs: the workflow's detail says so."""
    from lightdom_tui.orchestration import tree

    with workspace.session() as session:
        campaign = tree.create_campaign(session, "shop")
        session.flush()
        tree.create_workflow(session, campaign.id, "nightly", trigger="schedule",
                             trigger_config={"cron": "0 6 * * *"})
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space", "down")
        await settle(pilot)
        detail = str(app.query_one("#node-detail").render())
        assert "fires only while `lightdom scheduler run` runs" in detail


async def test_serve_from_the_tui_answers_on_its_url_then_stops(workspace) -> None:  # noqa: ANN001
    """ctrl+g starts the gateway `lightdom serve` runs (real HTTP on 127.0.0.1), its URL on the status bar;
    ctrl+g again stops it."""
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as probe:  # a free port for this test
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workspace.settings.serving.port = port
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+g")
        await settle(pilot)
        url = f"http://127.0.0.1:{port}/v1"
        assert f"gateway at {url}: ctrl+g stops it" in _messages(app)
        assert f"gateway {url}" in str(app.query_one("#status-bar").render())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert "gateway stopped" in _messages(app)
        assert "gateway" not in str(app.query_one("#status-bar").render())
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
        raise AssertionError("the gateway still answers")
    except urllib.error.URLError:
        pass
