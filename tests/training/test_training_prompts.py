"""What is trained is what is served, for imported data in the user's own wording (issue 15).

Real parts throughout: curation's add_example / build_dataset on a real SQLite workspace,
the trainer on the tiny random Llama, the product's export to GGUF and the serving
router on llama.cpp with its attribute grammar.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lightdom_tui.prompts import (
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_USER_TEMPLATE,
    PromptConfig,
    infer_attribute_prompt,
    render_attribute_messages,
    version_prompts,
)

SYSTEM = 'You design data attributes for data streams {like this}. Answer {"attributes": [...]} only.'
TEMPLATE = 'Which {count} fields should a data stream about "{topic}" record?'
TOPICS = ["Dental clinic", "3D model", "Bus trip", "Invoice", "Recipe", "Job posting", "Hotel room", "Podcast episode",
          "Flight reservation", "Medical test", "Music album", "Car rental", "Book series", "Sports event"]
NAMES = ["title", "start_date", "price", "provider", "location", "status", "identifier", "url"]


def user_chat(topic: str, count: int) -> list[dict[str, Any]]:
    """One logged call in the user's wording (not the product default)."""
    answer = {"attributes": [{"name": n, "type": "string", "description": f"The {n} of the {topic}"}
                             for n in NAMES[:count]]}
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": TEMPLATE.format(topic=topic, count=count)},
            {"role": "assistant", "content": json.dumps(answer)}]


def test_inferred_template_renders_the_example_back_and_keeps_the_default_wording() -> None:
    found = infer_attribute_prompt(user_chat("3D model", 3), "3D model", 3)
    assert found == PromptConfig(SYSTEM, 'Which {count} fields should a data stream about "{topic}" record?{context_block}')
    assert render_attribute_messages("Casino", 5, None, found)[1]["content"] == (
        'Which 5 fields should a data stream about "Casino" record?')
    assert render_attribute_messages("Casino", 5, "open late", found)[1]["content"].endswith("\nContext: open late")
    default = render_attribute_messages("Blog post", 8, "stream: news")
    assert infer_attribute_prompt(default, "Blog post", 8) == PromptConfig(DEFAULT_SYSTEM_PROMPT, DEFAULT_USER_TEMPLATE)
    assert infer_attribute_prompt(user_chat("Recipe", 2), "Pasta", 2) is None  # topic not in the wording


def test_one_lookup_for_every_path(workspace) -> None:
    from lightdom_tui.registry.candidate import version_prompts as candidate_prompts
    from lightdom_tui.registry.versions import find_version
    from lightdom_tui.serving.router import _prompts_for

    stored = {"attribute_generation": {"system": SYSTEM, "user_template": TEMPLATE}}
    for task_type in ("attribute_generation", "health_check"):  # canaries render the attribute prompt too
        assert _prompts_for(stored, task_type) == version_prompts(stored, task_type) == PromptConfig(SYSTEM, TEMPLATE)
    assert version_prompts(json.dumps(stored)) == PromptConfig(SYSTEM, TEMPLATE)
    with workspace.session() as session:
        base = find_version(session, "smollm2-135m-instruct")
        assert candidate_prompts(base) == version_prompts(base) == PromptConfig()  # nothing recorded: the default


@pytest.mark.slow
def test_foreign_wording_is_trained_served_and_valid(workspace, tiny_base) -> None:
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.db.models import ResponseCache, TrainingRun
    from lightdom_tui.fewshot import Shot, ShotIndex
    from lightdom_tui.modelio.pipeline import export_model
    from lightdom_tui.registry.versions import find_version
    from lightdom_tui.serving import cache
    from lightdom_tui.serving.router import generate_attributes
    from lightdom_tui.training.config import TrainRequest
    from lightdom_tui.training.runs import run_meta
    from lightdom_tui.training.trainer import train

    with workspace.session() as session:
        for index, topic in enumerate(TOPICS):
            add_example(session, user_chat(topic, 3 + index % 4), task_type="attribute_generation", source="log",
                        status="approved", metadata={"topic": topic})
    dataset = build_dataset(workspace, "user", split=0.7, seed=0)
    recorded = json.loads(dataset.prompts_json)["attribute_generation"]
    assert (recorded["system"], recorded["source"], recorded["matched"]) == (SYSTEM, "inferred", len(TOPICS))
    assert recorded["user_template"] == TEMPLATE + "{context_block}"

    result = train(workspace, TrainRequest(dataset="user", base=tiny_base, preset="tiny-cpu", method="lora",
                                           overrides={"max_steps": 4, "eval_steps": 2, "task_metric": "name_f1",
                                                      "task_eval_items": 3, "fewshot_k": 2}))
    assert result.status == "completed" and result.metrics["best_task_score"] is not None
    with workspace.session() as session:
        meta = run_meta(session.get(TrainingRun, result.run_id))
    assert [e["step"] for e in meta["task_evals"]] == [2, 4]
    assert all(0.0 <= e["name_f1"] <= 1.0 for e in meta["task_evals"])

    exported = export_model(workspace, result.adapter_version, quant="f16")
    with workspace.session() as session:
        gguf = find_version(session, exported.version)
        assert version_prompts(gguf) == PromptConfig(SYSTEM, TEMPLATE + "{context_block}", 2, dataset.id)
        sha = gguf.sha256
    # The served request is the trained one, byte for byte: serving's cache key covers its messages
    # (the version's wording, after its two most similar remembered calls).
    topic, count = "Dental clinic", 3
    answer = generate_attributes(workspace, topic, count=count, model=exported.version)
    assert answer.attributes and len(answer.attributes) <= count  # the grammar keeps it valid and capped
    shots = ShotIndex([Shot(t, 3 + i % 4, "") for i, t in enumerate(TOPICS)]).nearest(topic, 2)
    trained = user_chat(topic, count)[:1]
    for shot in shots:
        trained += user_chat(shot.topic, shot.count)[1:]
    trained += user_chat(topic, count)[1:2]
    settings = workspace.settings.serving
    params = {"count": count, "max_tokens": settings.max_tokens, "temperature": settings.temperature}
    with workspace.session() as session:
        assert session.get(ResponseCache, cache.cache_key(f"{exported.version}@{sha}", trained, params)) is not None


def test_remembered_examples_are_the_nearest_topics_in_the_version_wording(workspace) -> None:
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.fewshot import Shot, ShotIndex, render_for_version

    index = ShotIndex([Shot("Dental clinic", 2, "a"), Shot("Bus trip", 2, "b"), Shot("Medical clinic", 3, "c"),
                       Shot("Invoice", 1, "d")])
    assert {s.topic for s in index.nearest("Veterinary clinic", 2)} == {"Dental clinic", "Medical clinic"}
    assert [s.topic for s in index.nearest("Medical clinic", 1)] == ["Dental clinic"]  # never its own answer
    with workspace.session() as session:
        for topic in TOPICS:
            add_example(session, user_chat(topic, 3), task_type="attribute_generation", source="log",
                        status="approved", metadata={"topic": topic})
    dataset = build_dataset(workspace, "user", split=0.7, seed=0)
    stored = {"attribute_generation": {"system": SYSTEM, "user_template": TEMPLATE, "fewshot": 2,
                                       "memory_dataset": dataset.id}}
    prompts = version_prompts(stored)
    assert (prompts.fewshot, prompts.memory_dataset) == (2, dataset.id)
    messages = render_for_version(workspace, "Veterinary clinic", 4, None, prompts)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    closest = ShotIndex([Shot(t, 3, "") for t in TOPICS]).nearest("Veterinary clinic", 2)[-1].topic
    assert messages[3:5] == user_chat(closest, 3)[1:]  # a whole remembered call, in the user's wording, last
    assert messages[-1]["content"] == TEMPLATE.format(topic="Veterinary clinic", count=4)
    plain = render_for_version(workspace, "Veterinary clinic", 4, None, version_prompts({}))
    assert len(plain) == 2  # a version without memory: just its prompt


def test_training_with_memory_asks_each_example_the_way_it_is_served(workspace, tiny_tokenizer_dir) -> None:
    """fewshot_k: a train example is its served request (the version's wording, its nearest *other*
    calls first) followed by its own answer, and only that answer is learnt."""
    from transformers import AutoTokenizer

    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.fewshot import render_for_version
    from lightdom_tui.training.data import dataset_rows, prepare_data
    from lightdom_tui.training.render import IGNORE_INDEX

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    with workspace.session() as session:
        for index, topic in enumerate(TOPICS):
            add_example(session, user_chat(topic, 3 + index % 4), task_type="attribute_generation", source="log",
                        status="approved", metadata={"topic": topic})
    dataset = build_dataset(workspace, "user", split=0.7, seed=0)
    with workspace.session() as session:
        plain = prepare_data(session, dataset, tokenizer, 4096, "drop")
        remembered = prepare_data(session, dataset, tokenizer, 4096, "drop", fewshot_k=2)
        short = prepare_data(session, dataset, tokenizer, 400, "drop", fewshot_k=2)
        asked = {example.id: (json.loads(example.metadata_json)["topic"],
                              len(json.loads(messages[-1]["content"])["attributes"]))
                 for example, messages in dataset_rows(session, dataset.id, "train")}
    assert remembered.stats["train"].remembered == remembered.stats["train"].used == plain.stats["train"].used
    recorded = version_prompts(dataset.prompts_json)
    served_prompts = PromptConfig(recorded.system, recorded.user_template, 2, dataset.id)
    for before, after in zip(plain.train, remembered.train, strict=True):
        assert after.n_label_tokens == before.n_label_tokens  # only its own answer is labelled
        first_label = next(i for i, label in enumerate(after.labels) if label != IGNORE_INDEX)
        topic, count = asked[after.example_id]
        served = render_for_version(workspace, topic, count, None, served_prompts)
        assert len(served) == 6  # system, two remembered calls, the question
        text = tokenizer.apply_chat_template(served, tokenize=False, add_generation_prompt=True)
        assert tokenizer.decode(after.input_ids[:first_label]) == text
    # Too long for max_seq_len with two (334-475 tokens here): one fewer, never a cut answer.
    assert short.stats["train"].remembered == short.stats["train"].used and all(len(r) <= 400 for r in short.train)
    assert any(len(a) < len(b) for a, b in zip(short.train, remembered.train, strict=True))
    assert [r.n_label_tokens for r in short.train] == [r.n_label_tokens for r in plain.train]
