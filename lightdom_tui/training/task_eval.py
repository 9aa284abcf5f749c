"""The task metric inside the training process: attribute name F1 on the validation split.

Serving constrains llama.cpp with the attribute JSON schema capped at ``count`` items
(``serving.attributes.request_schema``). transformers has no grammar sampler, so the
closest feasible thing in the training process is: greedy decoding (serving's repeat
penalty, over the last 64 generated tokens as llama.cpp applies it) from each validation
example's own prompt, then the names read the way the grammar would have let them through:
in answer order, as snake_case (``prompts.normalise_name``), duplicates dropped, at most ``count`` of them. Scored like
``registry.evaluation``: micro F1 of normalised names against the example's answer.
Used to pick the best checkpoint by the task, not by loss.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lightdom_tui.prompts import normalise_name

NAME_FIELD = re.compile(r'"name"\s*:\s*"([^"\\]{1,80})"')
REPEAT_PENALTY = 1.1  # serving.attributes.REPEAT_PENALTY (not imported: serving stays out of training)
# llama.cpp's penalty sampler (inference/decoder.py) sees the last 64 *generated* tokens; the
# transformers option would penalise the whole prompt too, remembered examples included, and so
# forbid copying a name from them: the in-training metric would not be the served one.
PENALTY_LAST_N = 64
TOKENS_PER_ATTRIBUTE = 40


@dataclass
class TaskItem:
    """One validation prompt with the names its answer gives."""

    prompt: list[dict[str, Any]]
    reference: list[str]


@dataclass
class TaskScore:
    """Name F1 of one eval pass."""

    f1: float
    precision: float
    recall: float
    json_valid: float
    items: int


def attribute_items(conversations: list[list[dict[str, Any]]], limit: int) -> list[TaskItem]:
    """Prompts (everything before the last assistant turn) and reference names, at most ``limit``."""
    items: list[TaskItem] = []
    for messages in conversations:
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if last is None:
            continue
        try:
            answer = json.loads(messages[last].get("content") or "")
        except (json.JSONDecodeError, TypeError):
            continue
        names = [normalise_name(a["name"]) for a in answer.get("attributes", []) if isinstance(a, dict)
                 and isinstance(a.get("name"), str)] if isinstance(answer, dict) else []
        if names:
            items.append(TaskItem(messages[:last], names))
        if len(items) >= limit:
            break
    return items


def answer_names(text: str, count: int) -> list[str]:
    """The names an answer contributes: snake_case, unique, at most ``count`` (the grammar's cap)."""
    names: list[str] = []
    for raw in NAME_FIELD.findall(text):
        name = normalise_name(raw)
        if name and name not in names:
            names.append(name)
        if len(names) >= count:
            break
    return names


def score(predictions: list[list[str]], references: list[list[str]], valid: int) -> TaskScore:
    """Micro precision / recall / F1 over all items (set-based, as registry.evaluation scores)."""
    hits = sum(len(set(p) & set(r)) for p, r in zip(predictions, references, strict=True))
    predicted = sum(len(set(p)) for p in predictions)
    wanted = sum(len(set(r)) for r in references)
    precision = hits / predicted if predicted else 0.0
    recall = hits / wanted if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = max(1, len(references))
    return TaskScore(round(f1, 4), round(precision, 4), round(recall, 4), round(valid / n, 4), len(references))


class RecentRepeatPenalty:
    """A transformers logits processor: llama.cpp's repeat penalty over the last ``last_n``
    tokens generated after ``prompt_len`` (the prompt itself is never penalised)."""

    def __init__(self, penalty: float, prompt_len: int, last_n: int = PENALTY_LAST_N) -> None:
        self.penalty, self.prompt_len, self.last_n = penalty, prompt_len, last_n

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        recent = input_ids[:, self.prompt_len:][:, -self.last_n:]
        if recent.shape[1] == 0 or self.penalty == 1.0:
            return scores
        picked = torch.gather(scores, 1, recent)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, recent, picked)


def name_f1(model: Any, tokenizer: Any, items: list[TaskItem], device: Any, batch_size: int = 16) -> TaskScore:
    """Greedy answers for ``items`` in batches (left-padded), scored by name F1. Batches are wide:
    decoding a 135M model on a CPU is bound by per-step overhead more than by rows."""
    import torch
    from transformers import LogitsProcessorList

    model.eval()
    predictions: list[list[str]] = []
    valid = 0
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            texts = [tokenizer.apply_chat_template(i.prompt, tokenize=False, add_generation_prompt=True) for i in chunk]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            budget = TOKENS_PER_ATTRIBUTE * max(len(i.reference) for i in chunk) + 16
            penalty = RecentRepeatPenalty(REPEAT_PENALTY, enc["input_ids"].shape[1])
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=budget, do_sample=False, use_cache=True,
                                     logits_processor=LogitsProcessorList([penalty]), pad_token_id=pad)
            for item, row in zip(chunk, out[:, enc["input_ids"].shape[1]:], strict=True):
                text = tokenizer.decode(row, skip_special_tokens=True)
                predictions.append(answer_names(text, len(item.reference)))
                try:
                    json.loads(text)
                    valid += 1
                except json.JSONDecodeError:
                    pass
    finally:
        tokenizer.padding_side = side
        model.train()
    return score(predictions, [i.reference for i in items], valid)
