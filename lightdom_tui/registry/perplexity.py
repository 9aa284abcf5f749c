"""Eval loss and perplexity of a GGUF version on a dataset split, scored by llama.cpp.

Each conversation is rendered with the model's own chat template (from the GGUF
metadata); the loss is the mean negative log-likelihood of the final assistant
answer's tokens plus the end-of-turn token, given everything before it — the same
assistant-only objective the trainer optimises, so the numbers are comparable with
a run's ``eval_loss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lightdom_tui.db.models import ModelVersion
from lightdom_tui.prompts import messages_for_template
from lightdom_tui.workspace import Workspace

SCORING_CTX = 1024  # llama.cpp keeps n_ctx × vocab logits with logits_all; bounded memory


@dataclass
class LossResult:
    """Mean token loss over the scored answers."""

    eval_loss: float | None
    perplexity: float | None
    scored_items: int
    scored_tokens: int
    skipped: int
    note: str | None = None


def _split_answer(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str] | None:
    if not messages or messages[-1].get("role") != "assistant":
        return None
    answer = messages[-1].get("content")
    if not isinstance(answer, str) or not answer or messages[-1].get("tool_calls"):
        return None
    return messages[:-1], answer


def answer_loss(workspace: Workspace, version: ModelVersion, conversations: list[list[dict[str, Any]]]) -> LossResult:
    """Mean NLL per answer token over ``conversations`` (each ending with an assistant answer)."""
    import numpy as np
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from lightdom_tui.inference.llama import open_llama

    model = open_llama(version.path, workspace.settings.serving, n_ctx=SCORING_CTX, logits_all=True)
    try:
        template = model.metadata.get("tokenizer.chat_template")
        if not template:
            return LossResult(None, None, 0, 0, len(conversations), "the GGUF has no chat template")
        eos = model.detokenize([model.token_eos()], special=True).decode("utf-8", "replace")
        bos = model.detokenize([model.token_bos()], special=True).decode("utf-8", "replace")
        render = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        total_nll, total_tokens, items, skipped = 0.0, 0, 0, 0
        for messages in conversations:
            parts = _split_answer(messages)
            if parts is None:
                skipped += 1
                continue
            context, answer = parts
            try:  # tool calls shaped as the trainer shapes them (SmolLM2's template adds content to a str)
                prefix = render(messages=messages_for_template(template, context)).prompt  # ends with the generation prompt
            except Exception:  # a call without a name, or a template that rejects the shape: not scored
                skipped += 1
                continue
            prefix_tokens = model.tokenize(prefix.encode(), add_bos=False, special=True)
            tokens = model.tokenize((prefix + answer + eos).encode(), add_bos=False, special=True)
            if len(tokens) > SCORING_CTX or tokens[: len(prefix_tokens)] != prefix_tokens:
                skipped += 1  # too long, or the answer merged with the prompt's last token
                continue
            model.reset()
            model.eval(tokens)
            logits = np.asarray(model.scores[: len(tokens)], dtype=np.float64)
            shifted = logits - logits.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            positions = range(len(prefix_tokens), len(tokens))
            total_nll -= float(sum(log_probs[i - 1, tokens[i]] for i in positions))
            total_tokens += len(positions)
            items += 1
    finally:
        model.close()
    if not total_tokens:
        return LossResult(None, None, 0, 0, skipped, "no answer could be scored")
    loss = total_nll / total_tokens
    return LossResult(loss, math.exp(loss), items, total_tokens, skipped)
