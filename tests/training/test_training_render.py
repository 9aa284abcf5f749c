"""Rendering with the model's chat template and the assistant-only label mask, token by token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightdom_tui.errors import LightdomError
from lightdom_tui.training.render import (
    IGNORE_INDEX,
    RenderedExample,
    apply_length_policy,
    prepare_messages,
    render_example,
)

from training_helpers import TOOL_CALL


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def expected_tokens(tokenizer, segments: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """Tokenise ChatML pieces one by one; labelled pieces keep their ids, the rest -100."""
    ids, labels = [], []
    for text, labelled in segments:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if labelled else [IGNORE_INDEX] * len(piece)
    return ids, labels


def test_labels_cover_exactly_the_assistant_turns_and_their_closing_token(tokenizer) -> None:
    messages = [
        {"role": "system", "content": "You design data attributes."},
        {"role": "user", "content": "Topic: bikes"},
        {"role": "assistant", "content": '{"attributes": [{"name": "frame_size"}]}'},
        {"role": "user", "content": "More please"},
        {"role": "assistant", "content": "wheel_size and gear_count"},
    ]
    rendered = render_example(tokenizer, messages)
    ids, labels = expected_tokens(tokenizer, [
        ("<|im_start|>system\nYou design data attributes.<|im_end|>\n", False),
        ("<|im_start|>user\nTopic: bikes<|im_end|>\n", False),
        ("<|im_start|>assistant\n", False),
        ('{"attributes": [{"name": "frame_size"}]}<|im_end|>', True),
        ("\n<|im_start|>user\nMore please<|im_end|>\n<|im_start|>assistant\n", False),
        ("wheel_size and gear_count<|im_end|>", True),
        ("\n", False),
    ])
    assert rendered.input_ids == ids
    assert rendered.labels == labels
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    closing = [i for i, t in enumerate(rendered.input_ids) if t == eos]
    # five turns close with <|im_end|>; only the two assistant closings carry a label
    assert [rendered.labels[i] == eos for i in closing] == [False, False, True, False, True]


def test_tool_calls_are_rendered_and_learned_tool_results_are_not(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 12}'},
        {"role": "assistant", "content": "12 degrees."},
    ]
    rendered = render_example(tokenizer, messages)
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    ids, labels = expected_tokens(tokenizer, [
        (f"<|im_start|>system\n{default_system}<|im_end|>\n", False),
        ("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n", False),
        (f"{call}<|im_end|>", True),
        ('\n<|im_start|>tool\n{"temp": 12}<|im_end|>\n<|im_start|>assistant\n', False),
        ("12 degrees.<|im_end|>", True),
        ("\n", False),
    ])
    assert rendered.input_ids == ids
    assert rendered.labels == labels


def test_templates_with_native_tool_support_get_structured_calls(tokenizer) -> None:
    native = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    native.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
        "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    prepared = prepare_messages(native, [{"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}])
    assert prepared[0]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
    rendered = render_example(native, [{"role": "user", "content": "hi"}, *prepared])
    labelled = native.decode([t for t, l in zip(rendered.input_ids, rendered.labels) if l != IGNORE_INDEX])
    assert json.loads(labelled.split("<tool_call>")[1].split("</tool_call>")[0])["arguments"] == {"city": "Paris"}
    assert labelled.endswith("<|im_end|>")


def test_conversation_without_assistant_has_no_labels(tokenizer) -> None:
    rendered = render_example(tokenizer, [{"role": "user", "content": "hello"}])
    assert rendered.n_label_tokens == 0 and len(rendered) > 0


def test_tool_call_without_a_name_is_a_clear_error(tokenizer) -> None:
    with pytest.raises(LightdomError, match="no function name"):
        render_example(tokenizer, [{"role": "assistant", "content": None, "tool_calls": [{"function": {}}]}])


def test_length_policy_truncates_or_drops_and_never_keeps_an_unlearnable_cut() -> None:
    example = RenderedExample(list(range(10)), [IGNORE_INDEX] * 6 + [6, 7, 8, 9])
    assert apply_length_policy(example, 10, "truncate") is example
    cut = apply_length_policy(example, 8, "truncate")
    assert cut is not None and cut.truncated and cut.input_ids == list(range(8)) and cut.n_label_tokens == 2
    assert apply_length_policy(example, 8, "drop") is None
    assert apply_length_policy(example, 5, "truncate") is None  # nothing left to learn from
