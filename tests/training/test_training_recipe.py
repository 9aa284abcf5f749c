"""The default recipe per task type, steps scaled to the data, the time estimate, the task metric."""

from __future__ import annotations

import pytest

from lightdom_tui.training.config import TrainConfig, TrainRequest
from lightdom_tui.training.memory import ModelShape
from lightdom_tui.training.presets import get_preset
from lightdom_tui.training.recipe import default_preset, plan_recipe, steps_for
from lightdom_tui.training.task_eval import answer_names, attribute_items, score

SMOLLM2 = ModelShape("llama", hidden=576, layers=30, intermediate=1536, heads=9, kv_heads=3, vocab=49152)


def test_small_data_gets_more_epochs_up_to_the_cap_and_large_data_keeps_its_epochs() -> None:
    config = get_preset("attributes-default").config  # >= 150 updates, epochs up to 4, batch 4
    assert steps_for(config, 25) == (100, 4.0)  # 100 examples: 4 epochs (the cap), not 25 steps
    steps, epochs = steps_for(config, 55)  # 220 examples: 150 updates ≈ 2.7 epochs
    assert steps == 150 and epochs == pytest.approx(150 / 55)
    assert steps_for(config, 400) == (400, 1.0)  # 1600 examples: one epoch is already enough updates
    assert steps_for(config.with_overrides(max_steps=7), 400)[0] == 7  # an explicit step count wins


def test_plan_shows_the_time_before_the_run_and_cuts_to_the_budget() -> None:
    config = get_preset("attributes-default").config
    plan = plan_recipe(config, SMOLLM2, n_train=320, tokens_per_example=220, device="cpu")
    assert plan.steps == 150 and plan.eval_steps == 75 and not plan.budget_limited
    assert 0 < plan.estimated_seconds <= config.time_budget_s and "150 optimizer steps" in plan.summary()
    tight = plan_recipe(config.with_overrides(time_budget_s=60), SMOLLM2, 320, 220, "cpu")
    assert tight.budget_limited and tight.steps < 150 and tight.estimated_seconds <= 60


def test_default_preset_follows_the_dataset_task_type(workspace, small_dataset) -> None:
    from lightdom_tui.training.trainer import resolve_config

    assert default_preset(["attribute_generation"]) == "attributes-default"
    assert default_preset(["tool_use"]) == "chat-default"
    assert workspace.settings.training.preset == "auto"
    config, preset = resolve_config(workspace, TrainRequest(dataset=small_dataset))
    assert preset == "attributes-default" and config.method == "lora" and config.task_metric == "name_f1"
    assert resolve_config(workspace, TrainRequest(dataset=small_dataset, preset="tiny-cpu"))[1] == "tiny-cpu"
    with pytest.raises(Exception, match="task_metric 'bleu'"):
        TrainConfig(task_metric="bleu").validate()


def test_task_metric_reads_names_the_way_the_grammar_lets_them_through() -> None:
    text = '{"attributes":[{"name":"Start Date","type":"date"},{"name":"start_date"},{"name":"price"},{"name":"x"}]'
    assert answer_names(text, 2) == ["start_date", "price"]  # normalised, de-duplicated, capped, truncated JSON ok
    chats = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": '{"attributes":[{"name":"a"},{"name":"b"}]}'}],
             [{"role": "user", "content": "q"}, {"role": "assistant", "content": "not json"}]]
    items = attribute_items(chats, limit=5)
    assert len(items) == 1 and items[0].reference == ["a", "b"] and items[0].prompt == chats[0][:1]
    result = score([["a", "c"]], [["a", "b"]], valid=1)
    assert (result.precision, result.recall, result.f1, result.json_valid) == (0.5, 0.5, 0.5, 1.0)


def test_task_metric_penalises_recent_generated_tokens_never_the_prompt() -> None:
    import torch

    from lightdom_tui.training.task_eval import RecentRepeatPenalty

    prompt = [5, 6, 7]  # a remembered example's name tokens: copying them must stay free
    scores = torch.tensor([[1.0, 2.0, -1.0, 0.5, 4.0, 3.0, 3.0, 3.0]])
    fresh = RecentRepeatPenalty(2.0, prompt_len=3)(torch.tensor([prompt]), scores.clone())
    assert torch.equal(fresh, scores)
    after = RecentRepeatPenalty(2.0, prompt_len=3, last_n=2)(torch.tensor([prompt + [1, 2, 4]]), scores.clone())
    assert after.tolist() == [[1.0, 2.0, -2.0, 0.5, 2.0, 3.0, 3.0, 3.0]]  # 2 and 4 penalised, 1 too old, 5-7 free
