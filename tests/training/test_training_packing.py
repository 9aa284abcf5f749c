"""Packing: every example once, rows within the limit, positions reset, no attention across examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightdom_tui.training.packing import build_plan, collate, pack_rows
from lightdom_tui.training.render import IGNORE_INDEX, RenderedExample


def example(n: int, offset: int = 0) -> RenderedExample:
    ids = [offset + i + 10 for i in range(n)]
    return RenderedExample(ids, [IGNORE_INDEX] + ids[1:])


def test_pack_rows_places_every_example_once_within_the_limit() -> None:
    lengths = [5, 90, 30, 30, 64, 1, 17, 100, 44, 8]
    examples = [example(n) for n in lengths]
    rows = pack_rows(examples, 100)
    placed = sorted(i for row in rows for i in row)
    assert placed == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 100 for row in rows)
    assert len(rows) == 4  # 389 tokens: first-fit decreasing needs 4 rows of 100


def test_collate_resets_positions_masks_boundaries_and_pads_only_to_the_batch() -> None:
    examples = [example(3), example(4, 100), example(2, 200)]
    batch = collate(examples, [[0, 1], [2]], pad_id=0)
    assert batch.input_ids.shape == (2, 7)  # the longest row, not max_seq_len
    assert batch.position_ids[0].tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert batch.position_ids[1].tolist() == [0, 1, 0, 1, 2, 3, 4]  # padding is its own sequence
    assert batch.labels[0].tolist() == [IGNORE_INDEX, 11, 12, IGNORE_INDEX, 111, 112, 113]
    assert batch.labels[1].tolist()[2:] == [IGNORE_INDEX] * 5
    assert batch.n_tokens == 9 and batch.n_label_tokens == 6


def test_stream_resumes_at_the_same_micro_batch() -> None:
    examples = [example(n) for n in (5, 9, 3, 7, 2, 8, 4)]
    plan = build_plan(examples, max_len=10, batch_size=1, packing=True, pad_id=0)
    full = plan.stream(seed=3)
    first = [next(full).input_ids.tolist() for _ in range(plan.n_batches * 2 + 1)]
    resumed = plan.stream(seed=3, start=5)
    assert [next(resumed).input_ids.tolist() for _ in range(len(first) - 5)] == first[5:]


def test_length_grouping_batches_neighbours_by_length() -> None:
    examples = [example(n) for n in (50, 3, 48, 4)]
    plan = build_plan(examples, max_len=64, batch_size=2, packing=False, pad_id=0)
    assert [plan.batch(i).input_ids.shape[1] for i in range(plan.n_batches)] == [4, 50]


@pytest.mark.slow
def test_packed_examples_do_not_attend_to_each_other(tiny_model_dir: Path) -> None:
    """Logits of each example inside a packed row equal its logits when run alone (sdpa, CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    examples = [example(6, 0), example(9, 300), example(4, 900)]
    packed = collate(examples, [[0, 1, 2]], pad_id=0)
    with torch.no_grad():
        together = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False).logits[0]
        start = 0
        for ex in examples:
            alone = model(input_ids=torch.tensor([ex.input_ids]), use_cache=False).logits[0]
            torch.testing.assert_close(together[start:start + len(ex)], alone, atol=1e-5, rtol=1e-4)
            start += len(ex)
        # Without reset positions the second example would see the first: the check above can fail.
        contaminated = model(input_ids=packed.input_ids, use_cache=False).logits[0][6:15]
        alone = model(input_ids=torch.tensor([examples[1].input_ids]), use_cache=False).logits[0]
        assert not torch.allclose(contaminated, alone, atol=1e-3)
