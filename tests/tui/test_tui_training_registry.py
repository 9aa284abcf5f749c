"""Training and registry journeys on a tiny real model: train and watch the plot; export and promote."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import select

from lightdom_tui.db.models import Alias, ModelVersion, RunMetric, TrainingRun
from lightdom_tui.tui.app import create_app
from tests.tui.conftest import seed_examples, settle

pytestmark = pytest.mark.slow


def prepare(workspace, tiny_model_dir) -> None:  # noqa: ANN001
    """The tiny model as base version `tiny`, and an approved dataset `d`."""
    from lightdom_tui.curation import actions
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.query import ExampleFilter
    from lightdom_tui.registry.catalog import add_base

    add_base(workspace, tiny_model_dir, name="tiny")
    seed_examples(workspace, 12)
    actions.approve(workspace, ExampleFilter())
    build_dataset(workspace, "d", split=0.75)


async def wait_until(pilot, condition, timeout: float = 120.0) -> None:  # noqa: ANN001
    """Poll while workers run (training happens in a thread worker)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.2)


async def test_train_and_watch_the_plot(workspace, tiny_model_dir) -> None:  # noqa: ANN001
    prepare(workspace, tiny_model_dir)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)  # the form opens once the datasets and presets are listed
        assert app.screen.query_one("#form-dataset").value == "d@1"  # closed lists: what exists
        app.screen.query_one("#form-preset").value = "tiny-cpu"
        await pilot.pause(0.5)  # the estimate follows the values once typing pauses
        await settle(pilot)
        preview = str(app.screen.query_one("#form-preview").render())
        assert "memory estimate" in preview and "tiny-cpu" in preview and "fit" in preview  # before submitting
        # base, preset, method (the preset's), learning rate, epochs (the preset's), then the step counts
        await pilot.press("tab", "home", "ctrl+k", *"tiny", "tab", "tab", "tab", *"0.0005", "tab", "tab",
                          "4", "tab", "2", "tab", "2", "ctrl+s")  # launch: this process; no export script
        await wait_until(pilot, lambda: "memory estimate" in str(app.screen.query(".dialog-text").first().render())
                         if app.screen.query(".dialog-text") else False)
        await pilot.press("y")
        plot = app.query_one("#loss-plot")
        await wait_until(pilot, lambda: len(plot.steps) >= 4)  # the plot fills while the worker trains
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert list(plot.steps) == [1, 2, 3, 4]
        assert plot.eval_steps  # eval every 2 steps, as asked in the form (nothing invented)
        assert any("next: lightdom export run:1" in str(n.message) for n in app._notifications)
    with workspace.session() as session:
        run = session.exec(select(TrainingRun)).one()
        assert run.status == "completed"
        assert json.loads(run.config_json)["train"]["learning_rate"] == 0.0005  # as typed in the form
        assert len(session.exec(select(RunMetric).where(RunMetric.run_id == run.id)).all()) == 4
        assert session.get(ModelVersion, run.adapter_version_id).kind == "adapter"


async def test_export_and_promote(workspace, tiny_model_dir) -> None:  # noqa: ANN001
    prepare(workspace, tiny_model_dir)
    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.query_one("#versions")
        table.move_cursor(row=table.get_row_index("tiny"))
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("home", "ctrl+k", *"q8_0", "enter")
        await wait_until(pilot, lambda: any(k.value.startswith("tiny") and k.value != "tiny" for k in table.rows))
        await settle(pilot)
        exported = next(k.value for k in table.rows if k.value.startswith("tiny") and k.value != "tiny")
        table.move_cursor(row=table.get_row_index(exported))
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("enter")  # alias: production
        await settle(pilot)
        assert "production" in str(table.get_row(exported)[4])
    with workspace.session() as session:
        version = session.exec(select(ModelVersion).where(ModelVersion.version == exported)).one()
        assert (version.kind, version.quant) == ("gguf", "q8_0")
        alias = session.exec(select(Alias).where(Alias.name == "production")).one()
        assert alias.version_id == version.id
