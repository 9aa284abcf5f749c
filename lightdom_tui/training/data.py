"""Dataset version → rendered, length-checked examples, with every drop counted.

Rows come from the curation engine (``curation.datasets``: ``get_dataset`` and
``dataset_rows``); what cannot be trained on (no assistant turn, template error,
too long for the policy) is counted and reported in the run's metrics, never
dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Dataset, Example
from lightdom_tui.errors import LightdomError
from lightdom_tui.fewshot import ShotIndex, dataset_shots, with_shots
from lightdom_tui.prompts import ATTRIBUTE_TASK, PromptConfig, version_prompts
from lightdom_tui.training.render import RenderedExample, apply_length_policy, render_example

MAX_LISTED_ERRORS = 20


@dataclass
class SplitStats:
    """What happened to the examples of one split on their way to the trainer."""

    examples: int = 0
    used: int = 0
    truncated: int = 0
    dropped_too_long: int = 0
    dropped_no_assistant: int = 0
    render_errors: int = 0
    tokens: int = 0
    label_tokens: int = 0
    remembered: int = 0  # examples trained with remembered examples before their question (fewshot_k)
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PreparedData:
    """Rendered train / validation examples of one dataset version."""

    dataset: Dataset
    train: list[RenderedExample]
    validation: list[RenderedExample]
    stats: dict[str, SplitStats]
    memory: TrainingMemory | None = None  # the dataset as its own memory (fewshot_k), built once


def get_dataset(session: Session, ref: str | int) -> Dataset:
    """A dataset version by ``NAME``, ``NAME@VERSION`` or id (the curation engine's lookup)."""
    from lightdom_tui.curation import datasets

    return datasets.get_dataset(session, ref)


def dataset_rows(session: Session, dataset_id: int, split: str) -> list[tuple[Example, list[dict[str, Any]]]]:
    """(Example, messages) of one split in a stable order, anonymised when the version says so."""
    from lightdom_tui.curation import datasets

    return list(datasets.dataset_rows(session, dataset_id, split))


@dataclass
class TrainingMemory:
    """A dataset version as its own memory (``fewshot_k``): each attribute example is trained the
    way the version will be asked, with the ``k`` nearest *other* examples before its question."""

    index: ShotIndex
    prompts: PromptConfig
    k: int

    def render(self, tokenizer: Any, example: Example, messages: list[dict[str, Any]],
               max_len: int) -> RenderedExample | None:
        """The example with as many remembered examples (k, k-1, …, 1) as fit ``max_len``,
        only its own answer labelled; None when it is no attribute example or none fit."""
        topic = loads(example.metadata_json, {}).get("topic")
        if example.task_type != ATTRIBUTE_TASK or not isinstance(topic, str) or not topic.strip():
            return None
        for k in range(self.k, 0, -1):
            asked = with_shots(messages, topic, self.index, self.prompts, k)
            rendered = render_example(tokenizer, asked, example_id=example.id, last_turn_only=True)
            if len(rendered) <= max_len and rendered.n_label_tokens > 0:
                return rendered
        return None


def training_memory(session: Session, dataset: Dataset, k: int) -> TrainingMemory | None:
    """The memory a version trained on ``dataset`` with ``fewshot_k = k`` will be served with."""
    if k <= 0:
        return None
    assert dataset.id is not None
    return TrainingMemory(ShotIndex(dataset_shots(session, dataset.id)), version_prompts(dataset.prompts_json), k)


def render_split(
    tokenizer: Any, rows: list[tuple[Example, list[dict[str, Any]]]], max_len: int, policy: str,
    memory: TrainingMemory | None = None,
) -> tuple[list[RenderedExample], SplitStats]:
    """Render, mask and length-check one split; count everything left out."""
    stats = SplitStats(examples=len(rows))
    kept: list[RenderedExample] = []
    for example, messages in rows:
        reason = None
        try:
            remembered = memory.render(tokenizer, example, messages, max_len) if memory else None
            if remembered is not None:
                stats.remembered += 1
            rendered = remembered or render_example(tokenizer, messages, example_id=example.id)
        except LightdomError as exc:
            stats.render_errors += 1
            reason = str(exc)
            rendered = None
        if rendered is not None and rendered.n_label_tokens == 0:
            stats.dropped_no_assistant += 1
            reason, rendered = "no assistant turn to learn from", None
        elif rendered is not None:
            fitted = apply_length_policy(rendered, max_len, policy)
            if fitted is None:
                stats.dropped_too_long += 1
                reason = f"{len(rendered)} tokens > max_seq_len {max_len} ({policy})"
            elif fitted.truncated:
                stats.truncated += 1
            rendered = fitted
        if rendered is None:
            if len(stats.errors) < MAX_LISTED_ERRORS:
                stats.errors.append({"example_id": example.id, "reason": reason})
            continue
        kept.append(rendered)
        stats.tokens += len(rendered)
        stats.label_tokens += rendered.n_label_tokens
    stats.used = len(kept)
    return kept, stats


def prepare_data(session: Session, dataset: Dataset, tokenizer: Any, max_len: int, policy: str,
                 fewshot_k: int = 0) -> PreparedData:
    """Both splits of ``dataset`` rendered (with ``fewshot_k`` remembered examples before each
    attribute question, as the version will be served); refuses when nothing in train carries a label."""
    assert dataset.id is not None
    memory = training_memory(session, dataset, fewshot_k)
    train, train_stats = render_split(tokenizer, dataset_rows(session, dataset.id, "train"), max_len, policy, memory)
    validation, val_stats = render_split(tokenizer, dataset_rows(session, dataset.id, "validation"), max_len, policy,
                                         memory)
    if train_stats.label_tokens == 0:
        raise LightdomError(
            f"dataset '{dataset.name}@{dataset.version}': no usable training examples "
            f"({train_stats.examples} in train: {train_stats.dropped_no_assistant} without an assistant answer, "
            f"{train_stats.dropped_too_long} too long, {train_stats.render_errors} failed to render)"
        )
    return PreparedData(dataset, train, validation, {"train": train_stats, "validation": val_stats}, memory)
