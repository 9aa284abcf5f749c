"""Registry paths no other test walks: `ab end`, one whole successful continuous round,
tool-use evaluation on the embedded model, and the grammar bound that keeps evaluation short.

They go through the CLI (one JSON object per command), so they hold whichever layer
(service or use case) the command calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from lightdom_tui.db.models import ABOutcome, ABTest, Dataset, DatasetItem, Evaluation, ModelVersion, TrainingRun


def _cli(workspace, *args: str, ok: bool = True):
    from lightdom_tui.cli import app

    result = CliRunner().invoke(app, ["--home", str(workspace.root), *args, "--json"])
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)
    assert result.exit_code == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr


def _route(workspace, key: str):
    from lightdom_tui.registry.routing import choose_route

    with workspace.session() as session:
        route = choose_route(session, "attribute_generation", request_key=key)
        return route.source, route.version.version if route.version else None, route.arm


def test_ab_end_stops_routing_keeps_outcomes_and_moves_no_alias(workspace, versions):
    _cli(workspace, "models", "promote", "v3", "--alias", "production")
    test = _cli(workspace, "ab", "create", "--a", "v1", "--b", "v2", "--split", "0.5")
    routed = {_route(workspace, f"user-{i}") for i in range(40)}
    assert {(s, v, a) for s, v, a in routed} == {("ab", "v1", "a"), ("ab", "v2", "b")}
    _cli(workspace, "ab", "record", str(test["id"]), "--arm", "a", "--success", "--latency-ms", "90")
    _cli(workspace, "ab", "record", str(test["id"]), "--arm", "b", "--failure")

    ended = _cli(workspace, "ab", "end", test["name"])
    assert (ended["id"], ended["status"], ended["winner"]) == (test["id"], "ended", None)
    assert ended["ended_at"] is not None
    # routing falls back to the alias for every key; the alias itself did not move
    assert {_route(workspace, f"user-{i}") for i in range(40)} == {("alias", "v3", None)}
    assert _cli(workspace, "models", "show", "v3")["model"]["aliases"] == ["production"]
    # the evidence stays: the report of an ended test still counts both outcomes
    report = _cli(workspace, "ab", "report", str(test["id"]))
    assert (report["arms"]["a"]["n"], report["arms"]["b"]["n"]) == (1, 1)
    with workspace.session() as session:
        assert len(session.exec(select(ABOutcome).where(ABOutcome.ab_test_id == test["id"])).all()) == 2
        row = session.get(ABTest, test["id"])
        assert (row.status, row.winner_version_id) == ("ended", None)

    assert "already ended" in _cli(workspace, "ab", "end", str(test["id"]), ok=False)
    assert "already ended" in _cli(workspace, "ab", "promote", str(test["id"]), "--arm", "b", ok=False)
    assert "no such test" in _cli(workspace, "ab", "end", "nope", ok=False)
    # an ended test no longer blocks a new one on the same task types
    again = _cli(workspace, "ab", "create", "--a", "v1", "--b", "v3", "--split", "0.2")
    assert again["status"] == "running" and _route(workspace, "user-0")[0] == "ab"


def _approved(workspace, n: int) -> None:
    from lightdom_tui.curation.examples import add_example

    words = ["title", "price", "author", "published_at", "rating", "tags", "summary", "url"]
    with workspace.session() as session:
        for i in range(n):
            topic = f"topic number {i}"
            answer = {"attributes": [{"name": words[i % len(words)], "type": "string", "description": f"about {i}"}]}
            add_example(session, [{"role": "user", "content": f"Topic: {topic}\nCount: 1"},
                                  {"role": "assistant", "content": json.dumps(answer)}],
                        task_type="attribute_generation", source="manual", status="approved",
                        metadata={"topic": topic})


def test_attribute_grammar_bounds_every_string() -> None:
    """The served/evaluated request cannot run on: llama.cpp's converter ignores maxLength next to
    a pattern, so an unbounded name let a rambling model fill 2,048 tokens per try (86 s an item)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from lightdom_tui.inference.constrained import request_schema

    grammar = json_schema_to_gbnf(json.dumps(request_schema(1)))
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    for name in ("attributes-item-name", "attributes-item-description"):
        assert "*" not in rules[name] and "+" not in rules[name], rules[name][:200]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_continuous_round_trains_exports_evaluates_and_stages(workspace, tiny_model_dir: Path):
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.settings import save_settings

    with workspace.session() as session:
        register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir,
                         architecture="llama")
    settings = workspace.settings  # the round's training child reads lightdom.toml
    settings.training.base, settings.training.preset, settings.training.method = "tiny-llama", "tiny-cpu", "lora"
    # a random model fills every string to its bound: one attribute fits in 320 tokens, so one try
    settings.serving.n_threads, settings.serving.max_tokens = 1, 320
    settings.continuous.min_new_approved = 5
    save_settings(workspace.root, settings)
    _approved(workspace, 5)
    assert _cli(workspace, "continuous", "status")["stage"] == "ready"

    done = _cli(workspace, "continuous", "run", "--auto", "--max-steps", "2", "--quant", "q8_0")
    assert done["action"] == "completed", done
    assert [(s["step"], s["status"]) for s in done["steps"]] == [
        ("dataset", "done"), ("train", "done"), ("export", "done"), ("evaluate", "done"), ("stage", "done")]
    with workspace.session() as session:
        gguf = session.exec(select(ModelVersion).where(ModelVersion.version == done["version"])).one()
        chain, node = [], gguf
        while node is not None:
            chain.append(node)
            node = session.get(ModelVersion, node.parent_id) if node.parent_id else None
        run = session.exec(select(TrainingRun)).one()
        dataset = session.get(Dataset, run.dataset_id)
        items = session.exec(select(DatasetItem).where(DatasetItem.dataset_id == dataset.id)).all()
        evaluation = session.exec(select(Evaluation).where(Evaluation.version_id == gguf.id)).one()
    assert (gguf.kind, gguf.format, gguf.quant) == ("gguf", "gguf", "q8_0") and Path(gguf.path).is_file()
    assert [v.kind for v in chain][-2:] == ["adapter", "base"] and chain[-1].version == "tiny-llama"
    assert run.status == "completed" and chain[-2].run_id == run.id
    assert (dataset.name, len(items)) == ("continuous", 5)
    assert evaluation.dataset_id == dataset.id and evaluation.n == dataset.n_validation > 0

    status = _cli(workspace, "continuous", "status")
    assert status["stage"] == "staged" and status["facts"]["aliases"] == ["staging"]
    assert status["policy"]["new_approved"] == 0 and not status["policy"]["due"]
    shown = _cli(workspace, "models", "show", gguf.version)
    assert shown["model"]["aliases"] == ["staging"]  # never production: that stays a person's (or an A/B test's) call
    assert _cli(workspace, "continuous", "run", "--auto")["action"] == "none"


TOOLS_PROMPT = ("You can call these tools:\n- get_weather(city): the current weather in a city\n"
                "- fetch_page(url): download a web page")
TOOL_ASKS = [("get_weather", {"city": "Paris"}, "What is the weather in Paris right now?"),
             ("fetch_page", {"url": "https://example.com/"}, "Download https://example.com/ for me."),
             ("get_weather", {"city": "Oslo"}, "Weather in Oslo, please."),
             ("fetch_page", {"url": "https://example.org/a"}, "Fetch the page https://example.org/a")]


def _tool_examples(workspace) -> None:
    from lightdom_tui.curation.examples import add_example

    with workspace.session() as session:
        for name, arguments, ask in TOOL_ASKS:
            call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            add_example(session, [{"role": "system", "content": TOOLS_PROMPT}, {"role": "user", "content": ask},
                                  {"role": "assistant", "content": None, "tool_calls": [call]},
                                  {"role": "tool", "tool_call_id": "c1", "name": name, "content": '{"ok": true}'},
                                  {"role": "assistant", "content": "Done."}],
                        task_type="tool_use", source="manual", status="approved")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tool_use_evaluation_on_the_embedded_model(workspace):
    import math

    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.settings import save_settings

    workspace.settings.serving.n_threads, workspace.settings.serving.max_tokens = 1, 96
    save_settings(workspace.root, workspace.settings)
    _tool_examples(workspace)
    dataset = build_dataset(workspace, "tools", split=0.5, seed=2)
    assert dataset.n_validation == 2

    result = _cli(workspace, "eval", "smollm2-135m-instruct", "--dataset", "tools", "--task-type", "tool_use")
    m, items = result["metrics"], result["items"]
    assert (result["task_type"], result["n"], len(items)) == ("tool_use", 2, 2)
    # the grammar allows only the dataset's tool names and a JSON object: every answer parses
    assert m["json_validity"] == 1.0 and all(i["error"] is None for i in items)
    assert all(i["predicted"] in {"get_weather", "fetch_page"} and i["expected"] in {"get_weather", "fetch_page"}
               for i in items)
    # each metric is the share of its per-item verdict, and the verdicts nest: exact ⇒ JSON-equal ⇒ right tool
    assert m["tool_selection_accuracy"] == sum(i["predicted"] == i["expected"] for i in items) / 2
    assert m["arguments_json_equal"] == sum(i["arguments_json_equal"] for i in items) / 2
    assert m["arguments_exact_match"] == sum(i["arguments_exact"] for i in items) / 2
    for i in items:
        assert i["arguments_exact"] <= i["arguments_json_equal"] <= (i["predicted"] == i["expected"])
    assert m["latency_p50_ms"] > 0 and m["skipped"] == 0
    assert m["loss_tokens"] > 0 and m["perplexity"] == pytest.approx(math.exp(m["eval_loss"]))
    with workspace.session() as session:
        stored = session.get(Evaluation, result["evaluation_id"])
        assert (stored.task_type, stored.n, stored.dataset_id) == ("tool_use", 2, dataset.id)
        assert json.loads(stored.metrics_json) == m
        register_version(session, version="tiny-hf", kind="base", format="hf", path=workspace.root)
    assert "needs a GGUF version" in _cli(workspace, "eval", "tiny-hf", "--dataset", "tools",
                                          "--task-type", "tool_use", ok=False)
