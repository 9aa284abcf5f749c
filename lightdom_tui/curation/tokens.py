"""Exact token counts with the base model's own tokenizer (used at dataset export).

GGUF bases are read with llama.cpp in vocab-only mode (no weights loaded); HF folders
with their ``tokenizer.json`` via the ``tokenizers`` library. A message costs the tokens
of ``role\\ncontent`` (plus tool calls as JSON) and two special tokens for the chat template.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError

TEMPLATE_TOKENS_PER_MESSAGE = 2


@contextmanager
def _quiet_stderr():  # noqa: ANN202
    """llama.cpp prints context warnings on fd 2 even with verbose=False.

    Its log callback may also print through ``sys.stderr`` (a captured stream when the
    CLI runs in-process), so that is silenced too.
    """
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_counter(path: Path, fmt: str) -> Callable[[str], int]:
    """A text → token count function for a base model at ``path`` (format ``gguf`` or ``hf``)."""
    if fmt == "gguf" or path.suffix == ".gguf":
        from lightdom_tui.inference.llama import open_llama
        from lightdom_tui.settings import ServingSettings

        with _quiet_stderr():
            vocab = open_llama(path, ServingSettings(), vocab_only=True)
        return lambda text: len(vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=True))
    tokenizer_file = path / "tokenizer.json" if path.is_dir() else path
    if not tokenizer_file.is_file():
        raise LightdomError(f"{path}: no tokenizer.json to count tokens with")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def count_message_tokens(messages: list[dict[str, Any]], counter: Callable[[str], int]) -> int:
    """Tokens of a conversation as the chat template lays it out (approximately: role + content)."""
    total = 0
    for message in messages:
        text = f"{message['role']}\n{message.get('content') or ''}"
        if message.get("tool_calls"):
            text += json.dumps([c["function"] for c in message["tool_calls"]], ensure_ascii=False)
        total += counter(text) + TEMPLATE_TOKENS_PER_MESSAGE
    return total
