"""The campaign-tree CLI end to end: one JSON object per command, one-line errors, --yes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lightdom_tui.cli import app


def _cli(ws, *args, ok=True):
    result = CliRunner().invoke(app, ["--home", str(ws.root), *args, "--json"])
    if ok:
        assert result.exit_code == 0, (args, result.output)
        return json.loads(result.stdout)
    assert result.exit_code == 1, (args, result.output)
    return result.stderr.strip()


def test_cli_tree_run_and_delete(ws, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(3):
        (pages / f"p{n}.html").write_text(f"<title>Page {n}</title><h1>Heading {n}</h1>")
    campaign = _cli(ws, "campaign", "create", "docs", "--status", "active")
    workflow = _cli(ws, "workflow", "create", str(campaign["id"]), "local", "--trigger", "schedule",
                    "--cron", "0 6 * * *", "--timezone", "Europe/Berlin")
    assert workflow["trigger_config"] == {"cron": "0 6 * * *", "timezone": "Europe/Berlin"}
    service = _cli(ws, "service", "create", str(workflow["id"]), "files", "--type", "file",
                   "--path", str(pages / "*.html"))
    stream = _cli(ws, "datastream", "create", str(service["id"]), "pages",
                  "--transformations", '[{"op": "lowercase", "attribute": "heading"}]')
    _cli(ws, "attribute", "create", str(stream["id"]), "title", "--selector", "title",
         "--validation", '{"required": true}')
    _cli(ws, "attribute", "create", str(stream["id"]), "heading", "--selector", "h1")
    run = _cli(ws, "workflow", "run", str(workflow["id"]))
    assert run["status"] == "completed" and run["metrics"]["rows"] == 3
    rows = _cli(ws, "datastream", "rows", str(stream["id"]))["rows"]
    assert sorted(r["heading"] for r in rows) == ["heading 0", "heading 1", "heading 2"]
    logs = _cli(ws, "workflow", "logs", str(workflow["id"]))["logs"]
    assert "run completed" in logs[-1]["message"]
    metrics = _cli(ws, "workflow", "metrics", str(workflow["id"]))
    assert metrics["totals"]["rows"] == 3 and metrics["runs"][0]["success_rate"] == 1.0
    due = _cli(ws, "scheduler", "due")["workflows"][0]
    assert due["workflow_id"] == workflow["id"] and due["next_due"]

    hook = _cli(ws, "workflow", "create", str(campaign["id"]), "hook", "--trigger", "webhook")
    assert len(hook["webhook_token"]) > 20 and hook["webhook_token_set"] is True

    doc = tmp_path / "docs.yaml"
    _cli(ws, "campaign", "export", "docs", str(doc))
    copy = _cli(ws, "campaign", "import", str(doc), "--name", "docs2")
    shown = _cli(ws, "campaign", "show", "docs2")
    assert copy["name"] == "docs2" and len(shown["tree"]) == 2

    error = _cli(ws, "campaign", "delete", str(campaign["id"]), ok=False)
    assert error.startswith("error: campaign 1: deleting it also deletes 2 workflows") and "--yes" in error
    assert "\n" not in error
    deleted = _cli(ws, "campaign", "delete", str(campaign["id"]), "--yes")
    assert deleted["removed"]["attributes"] == 2
    assert [c["name"] for c in _cli(ws, "campaign", "list")["campaigns"]] == ["docs2"]


def test_cli_bad_input_is_one_line(ws):
    assert _cli(ws, "campaign", "create", "x", "--status", "nope", ok=False) == \
        "error: campaign.status: 'nope' is not one of draft, active, paused, done"
    campaign = _cli(ws, "campaign", "create", "x")
    assert "--config: not valid JSON" in _cli(ws, "workflow", "create", str(campaign["id"]), "w",
                                              "--config", "{oops", ok=False)
    assert "trigger_config.cron" in _cli(ws, "workflow", "create", str(campaign["id"]), "w",
                                         "--trigger", "schedule", "--cron", "every day", ok=False)
    assert _cli(ws, "workflow", "run", "42", ok=False) == "error: workflow 42: not found"
