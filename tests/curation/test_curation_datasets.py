"""Dataset versions (determinism, stratified split, refs, prompts), export formats, toolgen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import chat, write_jsonl  # type: ignore[import-not-found]
from lightdom_tui.curation.actions import approve
from lightdom_tui.curation.datasets import build_dataset, dataset_prompts, dataset_rows, get_dataset
from lightdom_tui.usecases.curation import export_dataset  # resolves the base model's tokenizer
from lightdom_tui.curation.ingest import ingest_paths
from lightdom_tui.curation.query import ExampleFilter
from lightdom_tui.curation.toolgen import toolgen
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import DEFAULT_SYSTEM_PROMPT

DATA = Path(__file__).parent / "data"


def _splits(ws, dataset_id: int) -> dict[int, str]:  # noqa: ANN001
    with ws.session() as session:
        return {e.id: split for split in ("train", "validation") for e, _ in dataset_rows(session, dataset_id, split)}


def test_build_is_deterministic_stratified_and_immutable(ws, corpus: Path) -> None:
    ingest_paths(ws, [corpus])
    approve(ws, ExampleFilter())
    a = build_dataset(ws, "web", seed=3)
    b = build_dataset(ws, "web", seed=3)
    c = build_dataset(ws, "web", seed=4)
    assert (a.version, b.version, c.version) == (1, 2, 3)
    assert a.manifest_hash == b.manifest_hash != c.manifest_hash
    assert _splits(ws, a.id) == _splits(ws, b.id) != _splits(ws, c.id)
    assert (a.n_train, a.n_validation) == (160, 40)
    with ws.session() as session:
        per_task = {}
        for example, _ in dataset_rows(session, a.id, "validation"):
            per_task[example.task_type] = per_task.get(example.task_type, 0) + 1
        assert per_task == {"attribute_generation": 20, "tool_use": 20}
        assert get_dataset(session, "web").id == c.id
        assert get_dataset(session, "web@1").id == a.id
        assert get_dataset(session, str(b.id)).id == b.id
        with pytest.raises(LightdomError, match="not found"):
            get_dataset(session, "web@9")
    prompts = dataset_prompts(a)
    assert prompts["attribute_generation"]["system"] == DEFAULT_SYSTEM_PROMPT
    assert prompts["tool_use"] == {"system": "You are a helpful data assistant.", "user_template": "{input}"}
    with pytest.raises(LightdomError, match="no examples match"):
        build_dataset(ws, "empty", task_type="nothing")


def test_examples_carrying_their_own_prompts(ws, tmp_path: Path) -> None:
    own = {"system": "Custom attribute designer.", "user_template": "Subject: {topic} ({count}){context_block}"}
    records = [chat(f"Subject: t{i} (3)", '{"attributes": []}', system="Custom attribute designer.",
                    task_type="attribute_generation", metadata={"topic": f"t{i}", "prompts": own}) for i in range(3)]
    ingest_paths(ws, [write_jsonl(tmp_path / "own.jsonl", records)])
    approve(ws, ExampleFilter())
    recorded = dataset_prompts(build_dataset(ws, "own"))["attribute_generation"]
    # the declared template keeps its {count} blank; inference alone would freeze "(3)" in it
    assert {k: recorded[k] for k in own} == own and recorded["source"] == "metadata"


def test_export_formats_with_pii_and_token_counts(ws, tmp_path: Path) -> None:
    records = [chat(f"Email bob{i}@example.com about order {i}", f"Done, I wrote to bob{i}@example.com.",
                    task_type="general") for i in range(6)]
    records.append({"messages": [
        {"role": "user", "content": "price?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "extract", "arguments": '{"url": "u"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"price": 3}'},
        {"role": "assistant", "content": "3 EUR"}], "task_type": "tool_use"})
    ingest_paths(ws, [write_jsonl(tmp_path / "pii.jsonl", records)])
    approve(ws, ExampleFilter())
    dataset = build_dataset(ws, "mail", split=0.5)
    result = export_dataset(ws, "mail", tmp_path / "out")
    assert result.pii["replaced"] == {"email": 12} and result.tokenizer == "smollm2-135m-instruct"
    train = (tmp_path / "out" / "train.jsonl").read_text()
    assert "@example.com" not in train and "<EMAIL>" in train
    counts = [f.records for f in result.files]
    assert sum(counts) == 7 and all(f.tokens and f.tokens > f.records * 5 for f in result.files)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["manifest_hash"] == dataset.manifest_hash and len(manifest["records"]) == 7

    per_task = export_dataset(ws, "mail@1", tmp_path / "per", format="sharegpt", per_task_type=True,
                              token_counts=False)
    names = sorted(Path(f.path).name for f in per_task.files)
    assert names == ["general_train.jsonl", "general_validation.jsonl", "tool_use_train.jsonl"]
    tool = json.loads((tmp_path / "per" / "tool_use_train.jsonl").read_text())
    assert [t["from"] for t in tool["conversations"]] == ["human", "function_call", "observation", "gpt"]

    export_dataset(ws, dataset.id, tmp_path / "alp", format="alpaca", token_counts=False)
    first = json.loads((tmp_path / "alp" / "train.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"instruction", "input", "output"}
    with pytest.raises(LightdomError, match="--format"):
        export_dataset(ws, "mail", tmp_path / "x", format="csv")


def test_toolgen_generates_valid_tool_examples(ws) -> None:
    result = toolgen(ws, DATA / "tools.json", DATA / "scenarios.json", seed=1)
    assert result.generated == 13 and result.error_cases == 3
    assert result.imported + result.duplicates == 13 and result.imported >= 8
    with ws.session() as session:
        from lightdom_tui.db.models import Example

        for example_id in result.example_ids:
            example = session.get(Example, example_id)
            messages = json.loads(example.messages_json)
            assert example.source == "toolgen" and json.loads(example.metadata_json)["generated"] == "toolgen"
            assert example.quality_score == 1.0  # paired tool call, valid JSON args, final answer, system prompt
            call = messages[2]["tool_calls"][0]
            assert messages[3]["tool_call_id"] == call["id"]
            args = json.loads(call["function"]["arguments"])
            if call["function"]["name"] == "run_workflow":
                assert isinstance(args["workflow_id"], int)
    again = toolgen(ws, DATA / "tools.json", DATA / "scenarios.json", seed=1)
    assert again.imported == 0 and again.duplicates == 13


def test_toolgen_rejects_arguments_that_break_the_schema(ws, tmp_path: Path) -> None:
    bad = [{"tool": "run_workflow", "user": "run", "arguments": {"workflow_id": "seven"}, "result": {},
            "answer": "ok"}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(LightdomError, match="workflow_id' must be integer"):
        toolgen(ws, DATA / "tools.json", tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text(json.dumps([{**bad[0], "tool": "nope"}]))
    with pytest.raises(LightdomError, match="scenarios\\[0\\].tool"):
        toolgen(ws, DATA / "tools.json", tmp_path / "unknown.json")


def test_anonymise_is_recorded_per_version(ws, tmp_path: Path) -> None:
    ingest_paths(ws, [write_jsonl(tmp_path / "p.jsonl", [chat(f"call +1 415-555-01{i:02d}", "ok") for i in range(4)])])
    approve(ws, ExampleFilter())
    plain = build_dataset(ws, "raw", anonymise=False)
    masked = build_dataset(ws, "raw")  # settings default: anonymise
    with ws.session() as session:
        raw_text = json.dumps([m for _, m in dataset_rows(session, plain.id)])
        masked_text = json.dumps([m for _, m in dataset_rows(session, masked.id)])
    assert "415-555" in raw_text and "<PHONE>" not in raw_text
    assert "415-555" not in masked_text and masked_text.count("<PHONE>") == 4
