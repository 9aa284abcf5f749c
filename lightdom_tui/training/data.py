"""Dataset version → rendered, length-checked examples, with every drop counted.

Rows come from the curation engine (``curation.datasets``: ``get_dataset`` and
``dataset_rows``); what cannot be trained on (no assistant turn, template error,
too long for the policy) is counted and reported in the run's metrics, never
dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Dataset, DatasetItem, Example
from lightdom_tui.errors import LightdomError
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
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PreparedData:
    """Rendered train / validation examples of one dataset version."""

    dataset: Dataset
    train: list[RenderedExample]
    validation: list[RenderedExample]
    stats: dict[str, SplitStats]


def get_dataset(session: Session, ref: str | int) -> Dataset:
    """A dataset version by ``NAME``, ``NAME@VERSION`` or id (curation's lookup when present)."""
    try:
        from lightdom_tui.curation import datasets as curation_datasets
    except ImportError:
        curation_datasets = None
    if curation_datasets is not None and hasattr(curation_datasets, "get_dataset"):
        return curation_datasets.get_dataset(session, ref)
    return _get_dataset_local(session, str(ref))


def _get_dataset_local(session: Session, ref: str) -> Dataset:
    if ref.isdigit():
        found = session.get(Dataset, int(ref))
    else:
        name, _, version = ref.partition("@")
        query = select(Dataset).where(Dataset.name == name)
        if version:
            if not version.isdigit():
                raise LightdomError(f"dataset '{ref}': version after @ must be a number")
            query = query.where(Dataset.version == int(version))
        found = session.exec(query.order_by(Dataset.version.desc())).first()  # type: ignore[attr-defined]
    if found is None:
        raise LightdomError(f"dataset '{ref}': no such dataset (see `lightdom dataset list`)")
    return found


def dataset_rows(session: Session, dataset_id: int, split: str) -> list[tuple[Example, list[dict[str, Any]]]]:
    """(Example, messages) of one split, in a stable order (curation's when present)."""
    try:
        from lightdom_tui.curation import datasets as curation_datasets
    except ImportError:
        curation_datasets = None
    if curation_datasets is not None and hasattr(curation_datasets, "dataset_rows"):
        return list(curation_datasets.dataset_rows(session, dataset_id, split))
    query = (
        select(Example)
        .join(DatasetItem, DatasetItem.example_id == Example.id)  # type: ignore[arg-type]
        .where(DatasetItem.dataset_id == dataset_id, DatasetItem.split == split)
        .order_by(Example.id)  # type: ignore[arg-type]
    )
    return [(example, loads(example.messages_json, [])) for example in session.exec(query)]


def render_split(
    tokenizer: Any, rows: list[tuple[Example, list[dict[str, Any]]]], max_len: int, policy: str
) -> tuple[list[RenderedExample], SplitStats]:
    """Render, mask and length-check one split; count everything left out."""
    stats = SplitStats(examples=len(rows))
    kept: list[RenderedExample] = []
    for example, messages in rows:
        reason = None
        try:
            rendered = render_example(tokenizer, messages, example_id=example.id)
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


def prepare_data(session: Session, dataset: Dataset, tokenizer: Any, max_len: int, policy: str) -> PreparedData:
    """Both splits of ``dataset`` rendered; refuses when nothing in train carries a label."""
    assert dataset.id is not None
    train, train_stats = render_split(tokenizer, dataset_rows(session, dataset.id, "train"), max_len, policy)
    validation, val_stats = render_split(tokenizer, dataset_rows(session, dataset.id, "validation"), max_len, policy)
    if train_stats.label_tokens == 0:
        raise LightdomError(
            f"dataset '{dataset.name}@{dataset.version}': no usable training examples "
            f"({train_stats.examples} in train: {train_stats.dropped_no_assistant} without an assistant answer, "
            f"{train_stats.dropped_too_long} too long, {train_stats.render_errors} failed to render)"
        )
    return PreparedData(dataset, train, validation, {"train": train_stats, "validation": val_stats})
