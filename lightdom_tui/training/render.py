"""Render a conversation with the model's own chat template and mask everything but the answers.

``labels`` are -100 everywhere except the tokens of assistant turns, including the
token that closes each turn (``<|im_end|>`` / EOS), so the model learns to stop.
Spans are found by rendering growing prefixes of the conversation (the template's
generation prompt marks where an answer starts) and mapped onto tokens through the
fast tokenizer's character offsets.

Tool use: templates that know ``tool_calls`` (Qwen2.5, DeepSeek, Llama 3.1 …) get the
OpenAI-style messages with arguments parsed to objects; templates that don't (SmolLM2)
get each call written into the assistant text in the Hermes ``<tool_call>`` format that
Qwen2.5 itself uses, so no call is silently dropped by the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import messages_for_template

IGNORE_INDEX = -100


@dataclass
class RenderedExample:
    """Token ids and labels of one conversation (labels -100 outside assistant turns)."""

    input_ids: list[int]
    labels: list[int]
    example_id: int | None = None
    truncated: bool = False

    @property
    def n_label_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)

    def __len__(self) -> int:
        return len(self.input_ids)


def prepare_messages(tokenizer: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the shape the model's template expects (see module docstring)."""
    return messages_for_template(tokenizer.chat_template, messages)


def _render(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as exc:  # jinja raises TemplateError / TypeError on shapes it rejects
        raise LightdomError(f"chat template rejected the conversation: {exc}") from exc


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the [start, end) character spans of every assistant turn."""
    text = _render(tokenizer, messages, False)
    eos = tokenizer.eos_token or ""
    spans = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], True)
        upto = _render(tokenizer, messages[: index + 1], False)
        if not (upto.startswith(prompt) and text.startswith(upto)):
            raise LightdomError(
                "chat template is not prefix-stable (rendering a shorter conversation changes earlier "
                "turns); cannot locate assistant tokens"
            )
        start, end = len(prompt), len(upto)
        closing = upto.rfind(eos, start) if eos else -1
        if closing >= 0:
            end = closing + len(eos)  # keep the closing token, not the newline after it
        spans.append((start, end))
    return text, spans


def render_example(tokenizer: Any, messages: list[dict[str, Any]], example_id: int | None = None,
                   last_turn_only: bool = False) -> RenderedExample:
    """Tokenise one conversation and label only its assistant turns (+ their closing token);
    ``last_turn_only``: only the final answer (earlier turns are remembered examples, context)."""
    prepared = prepare_messages(tokenizer, messages)
    text, spans = assistant_char_spans(tokenizer, prepared)
    if last_turn_only:
        spans = spans[-1:]
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoding["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    span_index = 0
    for position, (start, _end) in enumerate(encoding["offset_mapping"]):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        if span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]:
            labels[position] = input_ids[position]
    _append_eos_if_missing(tokenizer, spans, input_ids, labels)
    return RenderedExample(input_ids=input_ids, labels=labels, example_id=example_id)


def _append_eos_if_missing(tokenizer: Any, spans: list, input_ids: list[int], labels: list[int]) -> None:
    """Templates whose assistant turns don't close with EOS get one after the last answer."""
    eos_id = tokenizer.eos_token_id
    if eos_id is None or not spans:
        return
    labelled = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    if labelled and input_ids[labelled[-1]] != eos_id:
        input_ids.append(eos_id)
        labels.append(eos_id)


def apply_length_policy(example: RenderedExample, max_len: int, policy: str) -> RenderedExample | None:
    """Cut an over-long example to ``max_len`` (``truncate``) or drop it (``drop``).

    Returns None when the example is dropped, including a truncation that leaves no
    assistant token to learn from. Callers count both outcomes.
    """
    if len(example) <= max_len:
        return example
    if policy == "drop":
        return None
    cut = RenderedExample(example.input_ids[:max_len], example.labels[:max_len], example.example_id, True)
    return cut if cut.n_label_tokens > 0 else None
