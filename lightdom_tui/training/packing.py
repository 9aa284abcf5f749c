"""Batches without padding to a fixed length: packing (default) or length-grouped batches.

Packing puts several short examples into one row of up to ``max_seq_len`` tokens
(first-fit decreasing). ``position_ids`` restart at 0 for every example; with no
``attention_mask`` transformers turns such position ids into a block-diagonal causal
mask (``masking_utils.find_packed_sequence_indices``) for the sdpa, eager and
flash-attention backends alike, so tokens never attend across examples, on CPU too.
The first label of every example is ignored, so no token is predicted from the
previous example's last token.

Length grouping (``packing = false``) sorts examples by length and batches
neighbours, padding only to the longest row of each batch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lightdom_tui.training.render import IGNORE_INDEX, RenderedExample


@dataclass
class Batch:
    """One micro-batch as tensors, with its token counts."""

    input_ids: Any  # LongTensor [B, T]
    labels: Any
    position_ids: Any
    n_tokens: int  # real (non-pad) tokens
    n_label_tokens: int  # tokens that carry loss


def pack_rows(examples: list[RenderedExample], max_len: int) -> list[list[int]]:
    """First-fit-decreasing packing of example indices into rows of at most ``max_len`` tokens."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]), i))
    rows: list[list[int]] = []
    room: list[int] = []
    for index in order:
        size = len(examples[index])
        for row, free in enumerate(room):
            if size <= free:
                rows[row].append(index)
                room[row] -= size
                break
        else:
            rows.append([index])
            room.append(max_len - size)
    return rows


def group_rows(examples: list[RenderedExample], batch_size: int) -> list[list[int]]:
    """One example per row, rows ordered by length so that batches need little padding."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i]), i))
    return [[i] for i in order]


def plan_batches(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Consecutive rows grouped into micro-batches (row indices)."""
    return [list(range(i, min(i + batch_size, len(rows)))) for i in range(0, len(rows), batch_size)]


def epoch_order(n_batches: int, epoch: int, seed: int) -> list[int]:
    """The batch order of one epoch: a shuffle seeded by (seed, epoch), so resume replays it."""
    order = list(range(n_batches))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def collate(examples: list[RenderedExample], rows: list[list[int]], pad_id: int) -> Batch:
    """Concatenate each row's examples; pad rows to the longest row of this batch only."""
    import torch

    ids_rows, label_rows, pos_rows = [], [], []
    for row in rows:
        ids, labels, positions = [], [], []
        for index in row:
            example = examples[index]
            ids += example.input_ids
            labels += [IGNORE_INDEX] + example.labels[1:]
            positions += list(range(len(example)))
        ids_rows.append(ids)
        label_rows.append(labels)
        pos_rows.append(positions)
    width = max(len(r) for r in ids_rows)
    n_tokens = sum(len(r) for r in ids_rows)
    for ids, labels, positions in zip(ids_rows, label_rows, pos_rows):
        pad = width - len(ids)
        ids += [pad_id] * pad
        labels += [IGNORE_INDEX] * pad
        positions += list(range(pad))  # a separate "sequence" of padding
    labels_t = torch.tensor(label_rows, dtype=torch.long)
    return Batch(
        input_ids=torch.tensor(ids_rows, dtype=torch.long),
        labels=labels_t,
        position_ids=torch.tensor(pos_rows, dtype=torch.long),
        n_tokens=n_tokens,
        n_label_tokens=int((labels_t != IGNORE_INDEX).sum()),
    )


@dataclass
class BatchPlan:
    """The fixed micro-batches of a split; epochs shuffle their order."""

    examples: list[RenderedExample]
    rows: list[list[int]]
    batches: list[list[int]]  # each a list of row indices
    pad_id: int

    @property
    def n_batches(self) -> int:
        return len(self.batches)

    def batch(self, index: int) -> Batch:
        """Tensors of micro-batch ``index``."""
        return collate(self.examples, [self.rows[r] for r in self.batches[index]], self.pad_id)

    def stream(self, seed: int, start: int = 0) -> Iterator[Batch]:
        """Micro-batches epoch after epoch, skipping the first ``start`` (resume)."""
        position = 0
        epoch = 0
        while True:
            order = epoch_order(self.n_batches, epoch, seed)
            for index in order:
                if position >= start:
                    yield self.batch(index)
                position += 1
            epoch += 1


def build_plan(examples: list[RenderedExample], *, max_len: int, batch_size: int, packing: bool, pad_id: int) -> BatchPlan:
    """Pack (or length-group) ``examples`` and cut the rows into micro-batches."""
    rows = pack_rows(examples, max_len) if packing else group_rows(examples, batch_size)
    return BatchPlan(examples, rows, plan_batches(rows, batch_size), pad_id)
