"""The shipped attribute corpus: up to date, valid, and split honestly."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from lightdom_tui.prompts import ATTRIBUTE_TASK, render_attribute_messages, validate_attribute_answer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "lightdom_tui" / "data" / "samples" / "attribute_generation.jsonl"
REFERENCES = ROOT / "lightdom_tui" / "data" / "attributes" / "heldout_references.jsonl"


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_attribute_samples", ROOT / "scripts" / "build_attribute_samples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need their module registered
    spec.loader.exec_module(module)
    return module


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_outputs_match_the_builder(builder):
    """The committed files are exactly what the script builds from topics.txt/fields.tsv."""
    assert builder.main(["--check"]) == 0


def test_every_sample_is_canonical_and_valid():
    samples = _lines(SAMPLES)
    assert len(samples) >= 300
    for record in samples:
        topic = record["metadata"]["topic"]
        assert record["task_type"] == ATTRIBUTE_TASK
        count = record["metadata"]["count"]
        assert record["messages"][:2] == render_attribute_messages(topic, count)
        check = validate_attribute_answer(record["messages"][2]["content"])
        assert check.ok, (topic, check.errors)
        assert len(check.attributes) == count


def test_heldout_topics_never_in_training():
    trained = {r["metadata"]["topic"].lower() for r in _lines(SAMPLES)}
    references = _lines(REFERENCES)
    assert len(references) >= 50
    assert not {r["topic"].lower() for r in references} & trained
    assert len({r["domain"] for r in references}) >= 15  # spread over the domains
    for ref in references:
        assert len(ref["reference"]) == len(set(ref["reference"])) >= 5


def test_naming_rules(builder):
    derive = builder.derive_field
    assert derive("published_at").type == "date"
    assert derive("published_at").description == "When it was published"
    assert derive("is_vegan").type == "boolean"
    assert derive("views_count").description == "Number of views"
    assert derive("weight_kg") == builder.Field("number", "Weight in kg")
    assert derive("hashtags").type == "array"
    assert derive("order_number").type == "string"
    assert derive("thumbnail_url").description == "Thumbnail URL"


def test_bad_topic_line_names_file_and_line(builder, tmp_path):
    bad = tmp_path / "topics.txt"
    bad.write_text("web | Blog post | title slug author body\nweb | Bad | Title x y z\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"topics.txt:2: names must be"):
        builder.read_topics(bad)
    dup = tmp_path / "dup.txt"
    dup.write_text("web | Blog post | title slug author body\n* web | blog post | title a b c\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"dup.txt:2: topic 'blog post' already on line 1"):
        builder.read_topics(dup)
