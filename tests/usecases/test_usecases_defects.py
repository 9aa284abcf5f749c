"""Regression tests for the defects the two faces disagreed on (issue 16), through the CLI and the use cases.

The TUI side of the same defects is in tests/tui/test_tui_usecases.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from lightdom_tui.db.models import AliasEvent, ModelVersion, TrainingRun, Workflow
from tests.orchestration.test_orch_cli import _cli  # one JSON object, or the one error line


def register(ws, name: str, kind: str = "base", parent_id: int | None = None) -> int:  # noqa: ANN001
    """A version row around a small real file (the registry never points at a missing file)."""
    from lightdom_tui.registry.versions import register_version

    path = ws.root / "models" / f"{name}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(name.encode())
    with ws.session() as session:
        row = register_version(session, version=name, kind=kind, format="hf", path=path, parent_id=parent_id)
        return row.id


def run_with_adapter(ws, adapter_id: int) -> int:  # noqa: ANN001
    """A completed training run whose adapter is ``adapter_id``."""
    with ws.session() as session:
        run = TrainingRun(status="completed", base_version_id=1, adapter_version_id=adapter_id, method="lora")
        session.add(run)
        session.flush()
        return run.id


def test_webhook_workflow_gets_its_token_from_the_one_use_case(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.usecases.campaign import NodeSpec, WorkflowSpec, create_node, create_workflow

    campaign = _cli(workspace, "campaign", "create", "c")
    by_cli = _cli(workspace, "workflow", "create", str(campaign["id"]), "hook", "--trigger", "webhook")
    # the TUI's form sends text fields; it reaches the same use case through create_node
    by_form = create_node(workspace, NodeSpec("workflow", campaign["id"], "hook2",
                                              {"trigger": "webhook", "trigger_config": "", "concurrency": "4"}))
    direct = create_workflow(workspace, WorkflowSpec(campaign["id"], "manual"))
    assert len(by_cli["webhook_token"]) > 20 and by_form.webhook_token and len(by_form.webhook_token) > 20
    assert by_form.row["webhook_token_set"] is True and direct.webhook_token is None
    with workspace.session() as session:
        hashes = [json.loads(w.trigger_config_json).get("token_sha256")
                  for w in session.exec(select(Workflow).where(Workflow.trigger == "webhook"))]
    assert len(hashes) == 2 and all(hashes) and by_form.webhook_token not in hashes  # only the hash is kept


def test_a_schedule_workflow_says_it_will_not_run_until_active(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.orchestration.scheduler import due_now
    from lightdom_tui.usecases.campaign import NodeSpec, create_node

    campaign = _cli(workspace, "campaign", "create", "c")
    draft = create_node(workspace, NodeSpec("workflow", campaign["id"], "nightly",
                                            {"trigger": "schedule", "trigger_config": '{"cron": "* * * * *"}'}))
    assert draft.row["status"] == "draft" and "fires only once it is active" in draft.notes[0]
    active = create_node(workspace, NodeSpec("workflow", campaign["id"], "hourly", {
        "trigger": "schedule", "trigger_config": '{"cron": "* * * * *"}', "status": "active"}))
    assert active.notes == []
    with workspace.session() as session:
        due = [d.workflow_id for d in due_now(session, datetime.now(timezone.utc) + timedelta(minutes=2))]
    assert due == [active.id]


def test_json_options_are_parsed_in_one_place(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.errors import LightdomError
    from lightdom_tui.usecases.campaign import NodeChange, NodeSpec, create_node, update_node

    campaign = _cli(workspace, "campaign", "create", "c")
    assert "--config: not valid JSON: Expecting property name enclosed in double quotes at column 2" == \
        _cli(workspace, "workflow", "create", str(campaign["id"]), "w", "--config", "{oops", ok=False)[7:]
    with pytest.raises(LightdomError, match=r"^workflow.trigger_config: not valid JSON: .* at column 2$"):
        create_node(workspace, NodeSpec("workflow", campaign["id"], "w", {"trigger_config": "{oops"}))
    assert _cli(workspace, "workflow", "create", str(campaign["id"]), "w", "--config", "[" * 100_000,
                ok=False)[7:] == "--config: JSON nested too deeply"
    with pytest.raises(LightdomError, match=r"^workflow.trigger_config: not usable JSON: Exceeds the limit"):
        create_node(workspace, NodeSpec("workflow", campaign["id"], "w", {"trigger_config": "9" * 5000}))
    workflow = _cli(workspace, "workflow", "create", str(campaign["id"]), "w")
    with pytest.raises(LightdomError, match=r"^workflow.concurrency: 'many' is not a whole number$"):
        update_node(workspace, NodeChange("workflow", workflow["id"], {"concurrency": "many"}))
    changed = update_node(workspace, NodeChange("workflow", workflow["id"], {"concurrency": "8"}))
    assert changed.row["concurrency"] == 8


def test_alias_rollback_records_its_reason(workspace) -> None:  # noqa: ANN001
    register(workspace, "a")
    register(workspace, "b")
    _cli(workspace, "models", "promote", "a")
    _cli(workspace, "models", "promote", "b")
    moved = _cli(workspace, "models", "rollback")
    assert moved["version"] == "a"
    _cli(workspace, "models", "promote", "b")
    _cli(workspace, "models", "rollback", "--reason", "b answers in French")
    with workspace.session() as session:
        reasons = [e.reason for e in session.exec(select(AliasEvent).where(AliasEvent.action == "rollback")
                                                  .order_by(AliasEvent.id))]
    assert reasons == ["manual rollback", "b answers in French"]


def test_a_bare_number_that_means_two_models_is_refused(workspace) -> None:  # noqa: ANN001
    adapter = register(workspace, "tuned", kind="adapter", parent_id=1)
    run_id = run_with_adapter(workspace, adapter)
    assert run_id == 1  # version #1 is the embedded base model: "1" could mean either
    error = _cli(workspace, "export", "1", ok=False)
    assert "model '1' is ambiguous" in error and "version #1 (" in error and "run:1 (its adapter tuned)" in error
    assert _cli(workspace, "models", "show", "run:1")["model"]["version"] == "tuned"
    assert _cli(workspace, "models", "show", "tuned")["model"]["id"] == adapter
    assert _cli(workspace, "models", "show", str(adapter))["model"]["version"] == "tuned"  # no run 2: one meaning
    assert "training run 7 has no adapter" in _cli(workspace, "models", "show", "run:7", ok=False)
    with workspace.session() as session:
        assert session.get(ModelVersion, 1).kind == "base"


def test_plan_training_is_the_trainers_own_pre_check(workspace, tiny_model_dir: Path) -> None:  # noqa: ANN001
    from lightdom_tui.curation import actions
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.query import ExampleFilter
    from lightdom_tui.registry.catalog import add_base
    from lightdom_tui.usecases.training import plan_training, spec_from_form
    from tests.tui.conftest import seed_examples

    add_base(workspace, tiny_model_dir, name="tiny")
    seed_examples(workspace, 8)
    actions.approve(workspace, ExampleFilter())
    build_dataset(workspace, "d", split=0.75)
    plan = plan_training(workspace, spec_from_form({"dataset": "d", "base": "tiny", "preset": "tiny-cpu",
                                                    "max_steps": "4", "eval_steps": "", "save_steps": ""}))
    assert (plan.dataset, plan.base, plan.preset, plan.method) == ("d@1", "tiny", "tiny-cpu", "lora")
    # the preset's own eval/save steps (tiny-cpu: 10), nothing invented from max_steps
    assert (plan.config["max_steps"], plan.config["eval_steps"], plan.config["save_steps"]) == (4, 10, 10)
    assert plan.estimate.needed_bytes > 0 and "memory" in plan.summary()
    asked = plan_training(workspace, spec_from_form({"dataset": "d", "base": "tiny", "preset": "tiny-cpu",
                                                     "eval_steps": "2"}))
    assert asked.config["eval_steps"] == 2


def test_train_prints_the_export_command_to_run_next(workspace) -> None:  # noqa: ANN001
    """The command names the run (``run:ID``), never a bare number; the TUI shows it too (test_tui_training_registry)."""
    from rich.console import Console

    from lightdom_tui.commands.training import _result_human
    from lightdom_tui.training.config import TrainResult
    from lightdom_tui.usecases.training import _done, export_command

    done = TrainResult(run_id=3, status="completed", adapter_version="tiny-d1-lora", metrics={"steps": 4})
    assert export_command(done) == "lightdom export run:3"
    assert export_command(TrainResult(run_id=4, status="failed", adapter_version=None, metrics={})) is None
    console = Console(record=True, width=200)
    _result_human(_done(done, workspace.root))(console)
    assert f"lightdom --home {workspace.root} export run:3" in console.export_text()


@pytest.mark.slow
def test_a_continuous_round_runs_the_loop_stages_in_process(workspace, tiny_model_dir: Path) -> None:  # noqa: ANN001
    """dataset → train → export → evaluate → staging, the same stage functions as the demo; no child process."""
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.registry.catalog import add_base
    from lightdom_tui.usecases.loop import run_round

    add_base(workspace, tiny_model_dir, name="tiny")
    workspace.settings.training.base, workspace.settings.training.preset = "tiny", "tiny-cpu"
    with workspace.session() as session:  # attribute examples with their topic: the evaluation scores names
        for i in range(8):
            answer = {"attributes": [{"name": f"field_{i}", "type": "string", "description": "d"}]}
            add_example(session, [{"role": "user", "content": f"Suggest attributes for topic {i}"},
                                  {"role": "assistant", "content": json.dumps(answer)}],
                        task_type="attribute_generation", source="sample", status="approved",
                        metadata={"topic": f"topic {i}"})
    result = run_round(workspace, auto=True, force=True, max_steps=1, quant="q8_0")
    assert result.action == "completed", result.steps
    assert [s["step"] for s in result.steps] == ["dataset", "train", "export", "evaluate", "stage"]
    assert _cli(workspace, "models", "show", "staging")["model"]["version"] == result.version
    assert _cli(workspace, "models", "show", "run:1")["model"]["kind"] == "adapter"
    with workspace.session() as session:  # a round keeps the GGUF it stages, not a merged HF folder
        assert not session.exec(select(ModelVersion).where(ModelVersion.kind == "merged")).all()
    assert not any((workspace.models_dir / "merged").iterdir())
