"""Continuous training: the policy, where the loop stands, proposals and a failing auto round."""

from __future__ import annotations

import json

from lightdom_tui.db.models import AttributeSuggestion, Evaluation, TrainingRun
from lightdom_tui.registry import aliases, continuous
from lightdom_tui.usecases.loop import run_round
from lightdom_tui.registry.versions import get_version, register_version


def _approved(workspace, n: int, start: int = 0) -> None:
    from lightdom_tui.curation.examples import add_example

    with workspace.session() as s:
        for i in range(start, start + n):
            add_example(s, [{"role": "user", "content": f"Topic: t{i}"},
                            {"role": "assistant", "content": json.dumps({"attributes": [
                                {"name": f"f{i}", "type": "string", "description": "d"}]})}],
                        task_type="attribute_generation", source="manual", status="approved")


def _dataset_of_everything(workspace) -> int:
    from lightdom_tui.curation.datasets import build_dataset

    return build_dataset(workspace, "all").id


def test_policy_new_examples_and_proposal(workspace):
    workspace.settings.continuous.min_new_approved = 3
    assert continuous.loop_status(workspace).stage == "idle"
    _approved(workspace, 2)
    assert run_round(workspace).action == "none"
    _approved(workspace, 1, start=2)
    status = continuous.loop_status(workspace)
    assert status.stage == "ready" and "3 new approved examples ≥ 3" in status.message
    proposal = run_round(workspace)
    assert proposal.action == "proposed"
    assert [s["step"] for s in proposal.steps] == ["dataset", "train", "export", "evaluate", "stage"]
    dataset_id = _dataset_of_everything(workspace)
    with workspace.session() as s:  # a failed run on that dataset does not reset the count
        s.add(TrainingRun(status="failed", dataset_id=dataset_id))
    assert continuous.loop_status(workspace).policy.new_approved == 3
    with workspace.session() as s:  # a completed one does: it saw all three
        s.add(TrainingRun(status="completed", dataset_id=dataset_id))
    assert continuous.loop_status(workspace).policy.new_approved == 0


def test_policy_acceptance_rate(workspace, datastream):
    workspace.settings.continuous.min_acceptance_rate = 0.7
    stream = datastream
    with workspace.session() as s:
        for i in range(10):  # 7 accepted of 10 = 0.7: not below
            s.add(AttributeSuggestion(datastream_id=stream, topic="t", name=f"n{i}",
                                      status="accepted" if i < 7 else "rejected"))
    assert not continuous.loop_status(workspace).policy.due
    with workspace.session() as s:
        s.add(AttributeSuggestion(datastream_id=stream, topic="t", name="n10", status="rejected"))
    policy = continuous.loop_status(workspace).policy
    assert policy.due and policy.acceptance_rate == 7 / 11


def test_stages_follow_the_latest_run(workspace, embedded_gguf):
    workspace.settings.continuous.min_new_approved = 1000
    with workspace.session() as s:
        run = TrainingRun(status="running")
        s.add(run)
    assert continuous.loop_status(workspace).stage == "training"
    with workspace.session() as s:
        run = s.get(TrainingRun, run.id)
        run.status = "completed"
        s.add(run)
        adapter = register_version(s, version="ad", kind="adapter", format="peft", path=embedded_gguf,
                                   sha256="0" * 64, run_id=run.id)
    assert continuous.loop_status(workspace).stage == "export pending"
    with workspace.session() as s:
        gguf = register_version(s, version="ad-q4", kind="gguf", format="gguf", path=embedded_gguf,
                                sha256="0" * 64, parent_id=adapter.id)
    assert continuous.loop_status(workspace).stage == "evaluation pending"
    with workspace.session() as s:
        s.add(Evaluation(version_id=gguf.id, n=1))
    assert continuous.loop_status(workspace).stage == "staging pending"
    aliases.promote(workspace, "ad-q4", "staging")
    status = continuous.loop_status(workspace)
    assert status.stage == "staged" and status.facts["aliases"] == ["staging"]


def test_auto_round_reports_the_failing_step(workspace):
    # nothing approved: the real dataset build refuses, and the round says so without raising
    result = run_round(workspace, auto=True, force=True)
    assert result.action == "failed"
    assert result.steps[-1]["step"] == "dataset" and result.steps[-1]["status"] == "failed"
    with workspace.session() as s:
        assert get_version(s, "smollm2-135m-instruct")  # nothing else changed
