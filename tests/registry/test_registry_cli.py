"""The registry CLI: one JSON object per command, user errors as one stderr line (exit 1)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


@pytest.fixture()
def cli(workspace):
    from lightdom_tui.cli import app

    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, ["--home", str(workspace.root), *args, "--json"])
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr)
            return json.loads(result.stdout)
        assert result.exit_code == 1 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1
        return result.stderr

    return run


def test_models_ab_deploy_alerts_cli(cli, versions):
    listed = cli("models", "list")["models"]
    assert [m["version"] for m in listed] == ["smollm2-135m-instruct", "v1", "v2", "v3"]
    assert set(listed[0]) >= {"version", "kind", "format", "path", "sha256", "aliases"}
    assert cli("models", "promote", "v1", "--alias", "production")["version"] == "v1"
    cli("models", "promote", "v2", "--alias", "production")
    assert cli("models", "rollback", "--alias", "production")["version"] == "v1"
    assert "no previous holder" in cli("models", "rollback", "--alias", "production", ok=False)
    shown = cli("models", "show", "v3")
    assert [n["version"] for n in shown["lineage"]] == ["v3", "v2", "v1"]
    assert "in use" in cli("models", "delete", "v1", ok=False)
    history = cli("models", "history")["history"]
    assert [h["action"] for h in history] == ["rollback", "promote", "promote"]

    test = cli("ab", "create", "--a", "v1", "--b", "v2", "--split", "0.5", "--task-types", "graphics")
    assert test["task_types"] == ["graphics"]
    assert "--split 1.5" in cli("ab", "create", "--a", "v1", "--b", "v3", "--split", "1.5", ok=False)
    cli("ab", "record", str(test["id"]), "--arm", "b", "--success", "--latency-ms", "120")
    report = cli("ab", "report", test["name"])
    assert report["arms"]["b"]["n"] == 1 and report["recommendation"] == "keep collecting"
    assert "no winner yet" in cli("ab", "promote", str(test["id"]), ok=False)
    promoted = cli("ab", "promote", str(test["id"]), "--arm", "b")
    assert promoted["move"]["version"] == "v2"

    deployed = cli("deploy", "v3", "--task-types", "graphics,audio", "--health", "none")
    assert deployed["ok"] and deployed["stage"] == "low"
    status = cli("deploy", "status")
    assert sorted(d["task_type"] for d in status["active"]) == ["audio", "graphics"]
    rolled = cli("deploy", "rollback")
    assert rolled["elapsed_ms"] < 1000 and len(rolled["rolled_back"]) == 2
    assert "--health maybe" in cli("deploy", "v3", "--health", "maybe", ok=False)
    assert cli("alerts", "--check")["alerts"] == []


def test_eval_simulate_continuous_cli(cli, versions, workspace, embedded_gguf):
    from lightdom_tui.db.jsoncol import dumps
    from lightdom_tui.db.models import Evaluation
    from lightdom_tui.registry.versions import get_version

    assert "exactly one of --references" in cli("eval", "v1", ok=False)
    assert "no attribute_generation evaluation" in cli("eval", "--compare", "v1", "v2", ok=False)
    with workspace.session() as s:
        for name, f1 in (("v1", 0.25), ("v2", 0.5)):
            s.add(Evaluation(version_id=get_version(s, name).id, references_file="/r", n=3,
                             metrics_json=dumps({"f1": f1})))
    table = cli("eval", "--compare", "v1", "v2")
    assert table["rows"] == [{"metric": "f1", "a": 0.25, "b": 0.5, "delta": 0.25}]
    assert "nothing to replay" in cli("simulate", "v1", ok=False)
    status = cli("continuous", "status")
    assert status["stage"] == "idle" and status["policy"]["min_new_approved"] == 50
    assert cli("continuous", "run")["action"] == "none"
    added = cli("models", "add-base", str(embedded_gguf), "--name", "local-smol")
    assert (added["version"], added["architecture"], added["quant"]) == ("local-smol", "llama", "q4_1")
