"""The engine pool: one loaded model per version, one batched scheduler each.

A :class:`LoadedModel` is the GGUF's weights, its chat template, and a
:class:`~lightdom_tui.inference.decoder.BatchDecoder` that decodes up to
``serving.parallel`` requests together. The pool keeps at most ``MAX_LOADED`` models
(least recently used unloaded first) and reloads a version whose file changed on
disk; an old model is unloaded only after its requests in flight finish (safe reload
on deploy). The chat template is the one inside the GGUF (``tokenizer.chat_template``).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.inference.decoder import BatchDecoder, Generation, GenerationRequest, Job
from lightdom_tui.inference.llama import open_weights, thread_count
from lightdom_tui.settings import ServingSettings

MAX_LOADED = 2
# The product's fallback template for a GGUF without one (ChatML, as SmolLM2 and Qwen use).
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class ChatReply:
    """One chat completion, engine-independent (local llama.cpp or a remote API)."""

    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    confidence: float | None = None
    cached_tokens: int = 0  # prompt tokens a local engine reused from its KV cache


def grammar_for(response_format: dict[str, Any] | None) -> str | None:
    """GBNF for an OpenAI/llama.cpp ``response_format`` (None: unconstrained text).

    ``json_schema`` (OpenAI's shape, ``{"json_schema": {"schema": ...}}``) and
    ``json_object`` with a ``schema`` (llama.cpp's shape) become the schema's grammar;
    plain ``json_object`` becomes "any JSON object".
    """
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if not response_format or response_format.get("type", "text") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise LightdomError("response_format.json_schema.schema: expected a JSON schema object")
    elif kind == "json_object":
        schema = response_format.get("schema")
        if schema is None:
            return JSON_GBNF
    else:
        raise LightdomError(f"response_format.type: {kind!r} is not text, json_object or json_schema")
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises plain exceptions on schemas it cannot express
        raise LightdomError(f"response_format: the schema cannot be turned into a grammar: {exc}") from None


def _meta(model: Any, key: str) -> str | None:
    import llama_cpp

    size = llama_cpp.llama_model_meta_val_str(model, key.encode(), None, 0)
    if size < 0:
        return None
    buffer = ctypes.create_string_buffer(size + 1)
    llama_cpp.llama_model_meta_val_str(model, key.encode(), buffer, size + 1)
    return buffer.value.decode("utf-8", "replace")


@dataclass
class LoadedModel:
    """A loaded GGUF and the scheduler that decodes its requests."""

    version: str
    path: Path
    signature: tuple[int, int]  # (size, mtime_ns) of the file when loaded
    weights: Any
    decoder: BatchDecoder
    formatter: Any
    add_bos: bool
    loaded_at: float = field(default_factory=time.time)
    _closed: bool = False

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Token ids of ``text`` (special tokens parsed)."""
        import llama_cpp

        data = text.encode("utf-8")
        vocab = self.decoder.vocab
        room = len(data) + 8
        tokens = (llama_cpp.llama_token * room)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), tokens, room, add_bos, True)
        if n < 0:
            tokens = (llama_cpp.llama_token * -n)()
            n = llama_cpp.llama_tokenize(vocab, data, len(data), tokens, -n, add_bos, True)
        return list(tokens[:n])

    def render(self, messages: list[dict[str, Any]]) -> list[int]:
        """Prompt tokens of a conversation in the model's own chat template."""
        try:
            result = self.formatter(messages=messages)
        except Exception as exc:  # a template that rejects the roles given (raise_exception)
            raise LightdomError(f"model '{self.version}': its chat template refused the messages: {exc}") from None
        return self.tokenize(result.prompt, add_bos=self.add_bos and not result.added_special)

    def submit(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 0.95,
        seed: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
        repeat_penalty: float = 1.0,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        unique_names: bool = False,
    ) -> Job:
        """Queue one chat completion on this model; ``job.future`` gives the :class:`Generation`.

        Setting ``cancel`` (a client that went away) stops its decoding at the next step.
        """
        if self._closed:
            raise LightdomError(f"model '{self.version}' was unloaded; retry")
        request = GenerationRequest(
            prompt_tokens=self.render(messages), max_tokens=max_tokens, temperature=temperature, top_p=top_p,
            seed=seed, stop=list(stop or []), grammar=grammar, repeat_penalty=repeat_penalty, on_text=on_text,
            unique_names=unique_names,
        )
        return self.decoder.submit(request, cancel)

    def generate(self, messages: list[dict[str, Any]], **options: Any) -> Generation:
        """One chat completion, waiting for it."""
        return self.submit(messages, **options).future.result()

    def close(self) -> None:
        """Unload once the requests in flight have finished."""
        import llama_cpp

        if self._closed:
            return
        self._closed = True
        self.decoder.close()
        llama_cpp.llama_model_free(self.weights)


def load_model(version: str, path: Path, settings: ServingSettings) -> LoadedModel:
    """Open ``path`` and start its scheduler."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    weights = open_weights(path, settings)
    try:
        decoder = BatchDecoder(weights, parallel=settings.parallel, n_ctx=settings.n_ctx, n_batch=settings.n_batch,
                               threads=thread_count(settings))
    except Exception:
        llama_cpp.llama_model_free(weights)
        raise
    vocab = decoder.vocab

    def piece(token: int) -> str:
        buffer = ctypes.create_string_buffer(64)
        size = llama_cpp.llama_token_to_piece(vocab, token, buffer, 64, 0, True)
        return buffer.raw[: max(0, size)].decode("utf-8", "replace")

    template = _meta(weights, "tokenizer.chat_template") or CHATML
    formatter = Jinja2ChatFormatter(template, eos_token=piece(llama_cpp.llama_vocab_eos(vocab)),
                                    bos_token=piece(llama_cpp.llama_vocab_bos(vocab)))
    stat = path.stat()
    return LoadedModel(
        version=version, path=path, signature=(stat.st_size, stat.st_mtime_ns), weights=weights, decoder=decoder,
        formatter=formatter, add_bos=bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
    )


def _usable(model: LoadedModel | None, path: Path) -> bool:
    """``model`` is loaded from ``path`` as it is now and its scheduler is still running."""
    return model is not None and model.path == path and model.signature == _signature(path) and model.decoder.alive


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class EnginePool:
    """Loaded models of one workspace, keyed by version name."""

    def __init__(self, settings: ServingSettings, max_loaded: int = MAX_LOADED) -> None:
        self.settings = settings
        self.max_loaded = max_loaded
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # guards the dict, never held while generating
        self._loading: dict[str, threading.Lock] = {}

    def get(self, version: str, path: Path | str) -> LoadedModel:
        """The loaded model for ``version`` (loading, or reloading a changed file, as needed)."""
        path = Path(path)
        if not path.is_file():
            raise LightdomError(f"model '{version}': file {path} is missing")
        with self._lock:
            current = self._models.get(version)
            if _usable(current, path):
                self._models.move_to_end(version)
                return current
            loading = self._loading.setdefault(version, threading.Lock())
        with loading:  # one load per version at a time; others wait and reuse it
            with self._lock:
                current = self._models.get(version)
                if _usable(current, path):
                    return current
            fresh = load_model(version, path, self.settings)
            evicted: list[LoadedModel] = []
            with self._lock:
                old = self._models.pop(version, None)
                if old is not None:
                    evicted.append(old)
                self._models[version] = fresh
                while len(self._models) > self.max_loaded:
                    evicted.append(self._models.popitem(last=False)[1])
        for model in evicted:
            model.close()  # waits for its requests in flight
        return fresh

    def chat(
        self,
        version: str,
        path: Path | str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None = None,
        repeat_penalty: float = 1.0,
        unique_names: bool = False,
    ) -> ChatReply:
        """One chat completion on ``version`` (constrained by ``response_format`` when given;
        ``unique_names``: no JSON "name" value repeats, see :class:`GenerationRequest`)."""
        generation = self.get(version, path).generate(
            messages, max_tokens=max_tokens, temperature=temperature, grammar=grammar_for(response_format),
            repeat_penalty=repeat_penalty, unique_names=unique_names,
        )
        return ChatReply(text=generation.text, finish_reason=generation.finish_reason,
                         prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens,
                         confidence=generation.confidence, cached_tokens=generation.cached_tokens)

    def drop(self, version: str) -> bool:
        """Unload ``version`` (e.g. after a rollback); False when it was not loaded."""
        with self._lock:
            model = self._models.pop(version, None)
        if model is None:
            return False
        model.close()
        return True

    def loaded(self) -> list[str]:
        """Versions currently loaded, least recently used first."""
        with self._lock:
            return list(self._models)

    def decoding(self) -> dict[str, int]:
        """Per loaded version, the sequences being decoded now."""
        with self._lock:
            return {version: model.decoder.decoding() for version, model in self._models.items()}

    def peaks(self) -> dict[str, int]:
        """Per loaded version, the most requests decoded together in one step so far."""
        with self._lock:
            return {version: model.decoder.peak for version, model in self._models.items()}

    def close(self) -> None:
        """Unload everything."""
        with self._lock:
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            model.close()


_POOLS: dict[Any, EnginePool] = {}
_POOLS_LOCK = threading.Lock()


def engine_pool(key: Any, settings: ServingSettings) -> EnginePool:
    """The process-wide pool for ``key`` (a workspace root), with ``settings`` in force."""
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = EnginePool(settings)
        else:
            pool.settings = settings
        return pool


def close_pools() -> None:
    """Unload every model of every pool (at exit and in tests)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


# Free llama.cpp models while the interpreter is still whole: left to garbage collection at
# shutdown, finalisers run after llama_cpp's C bindings are torn down.
atexit.register(close_pools)
