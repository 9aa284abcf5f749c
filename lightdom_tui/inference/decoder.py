"""Batched decoding: several requests in flight on one loaded model, one llama.cpp context.

One scheduler thread per loaded model owns a context with ``parallel`` sequences
(``n_seq_max``; each sequence gets its own ``n_ctx`` of KV cache). Each step puts
into ONE ``llama_batch``: the last sampled token of every sequence that is
generating, then prompt chunks of newly admitted requests up to ``n_batch``. One
``llama_decode`` serves them all, then each sequence samples its next token with its
own sampler chain (repeat penalty, temperature/top-p or greedy, seed) and, for
constrained output, its own grammar. The grammar is checked the way llama.cpp's own
samplers do it: the chain picks a token from the raw logits and the grammar checks
that one token; only when it refuses does the grammar filter the whole vocabulary
(about 10 ms per token for a JSON schema over 49k tokens, paid on every token otherwise).
A greedy chain first tries the next most likely tokens one by one (its answer is the
most likely token the grammar allows, so the first one allowed is it): measured on
attribute requests, the grammar refused 8 % of the greedy picks, each a ~8 ms filter.
Four sequences decoded together cost ~2.7x one on this 2-core CPU (Q4_1's dot products
are compute-bound there; the weights are read once per step), against 4x one after another:
that is where the throughput comes from.

A finished sequence keeps its KV cache: a new request goes to the free sequence holding the
longest prefix of its prompt and decodes only the rest, as llama.cpp's server does per slot
(``cache_prompt``) and llama-cpp-python per model. Shared system prompts, chat templates and
the earlier turns of a conversation are then decoded once, not once per request. The new
tokens land in other cells of the cache, so attention sums in another order: at near-ties a
greedy answer can differ from a fresh one (50 attribute requests one after another: 19 texts
identical, 42 valid either way).

A request may ask for ``unique_names`` (attribute answers): a token whose piece would close
a JSON ``"name"`` string equal (normalised) to an earlier name is refused like a grammar
refusal, the next choice taken instead. Only pieces holding a quote are checked (a regex
over the answer so far, microseconds), so it costs nothing measurable per token.

The context is touched by the scheduler thread only (llama.cpp contexts are not
thread-safe); callers submit a :class:`GenerationRequest` and wait on a future.
ctypes releases the GIL during ``llama_decode``, so the web server keeps serving.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import math
import random
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import normalise_name

GREEDY_TRIES = 32  # a greedy pick the grammar refuses: candidates checked one by one before filtering them all
VETO_TRIES = 16  # picks refused for repeating a name before the repeat is let through (the validator reports it)
# A complete "name" string value; only unescaped quotes are JSON structure, so "name" cannot match inside a string.
_NAME_VALUE = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
KV_UNIFIED = False  # one KV stream per sequence: attention spans only its own tokens


@dataclass
class GenerationRequest:
    """One completion to decode: prompt tokens plus sampling settings."""

    prompt_tokens: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: str | None = None  # GBNF text (root rule "root"), e.g. from a JSON schema
    repeat_penalty: float = 1.0
    on_text: Callable[[str], None] | None = None  # streaming: called from the scheduler thread
    # Refuse a token that closes a JSON "name" string equal (normalised) to an earlier one: attribute
    # answers need unique names and a grammar cannot say so. Costs a check on tokens holding a quote.
    unique_names: bool = False


@dataclass
class Generation:
    """What one request produced."""

    text: str
    finish_reason: str  # stop / length / cancelled
    prompt_tokens: int
    completion_tokens: int
    mean_logprob: float | None = None  # mean log-probability of the chosen tokens (raw model)
    cached_tokens: int = 0  # prompt tokens whose KV cache an earlier request on the sequence left

    @property
    def confidence(self) -> float | None:
        """Geometric-mean probability of the answer's tokens (0..1)."""
        return math.exp(self.mean_logprob) if self.mean_logprob is not None else None


class Job:
    """A submitted request: its future and a cancel switch (a client that went away).

    ``cancel`` lets the caller hold the switch before the job exists (a stream's client may
    leave while the prompt is still being rendered).
    """

    def __init__(self, request: GenerationRequest, cancel: threading.Event | None = None) -> None:
        self.request = request
        self.future: Future[Generation] = Future()
        self.cancelled = cancel if cancel is not None else threading.Event()

    def cancel(self) -> None:
        """Stop decoding this request at the next step."""
        self.cancelled.set()


@dataclass
class _Slot:
    seq: int
    job: Job
    sampler: Any  # the chain without the grammar
    grammar: Any  # the grammar sampler, or None
    limit: int  # max completion tokens (request cap, bounded by the sequence's context)
    fed: int = 0  # prompt tokens already decoded (or kept in the KV cache from the sequence's last request)
    cached: int = 0  # prompt tokens kept from the sequence's last request
    fed_out: list[int] = field(default_factory=list)  # generated tokens decoded into the KV cache
    pos: int = 0
    last: int | None = None  # token to feed next step (None while the prompt is being fed)
    out_bytes: int = 0
    text: str = ""
    emitted: int = 0  # characters of text already streamed
    n_out: int = 0
    logprob_sum: float = 0.0
    batch_index: int = -1
    greedy: bool = False  # the chain is plain greedy: its choice is the most likely token
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))


class BatchDecoder:
    """The scheduler of one loaded model (see the module docstring)."""

    def __init__(self, model: Any, *, parallel: int, n_ctx: int, n_batch: int, threads: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.model = model
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.parallel = max(1, parallel)
        self.seq_ctx = n_ctx
        self.n_batch = max(n_batch, self.parallel)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * self.parallel
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_batch
        params.n_seq_max = self.parallel
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = KV_UNIFIED
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise LightdomError(f"llama.cpp could not create a context of {params.n_ctx} tokens")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._candidates = _Candidates(llama_cpp, self.n_vocab)
        self._pending: deque[Job] = deque()
        self._slots: dict[int, _Slot] = {}
        self._held: dict[int, list[int]] = {}  # tokens each free sequence's KV cache holds (from its last request)
        self._cond = threading.Condition()
        self._closing = False
        self._died: BaseException | None = None  # what stopped the scheduler thread, if anything did
        self.peak = 0  # most sequences decoded together in one step so far (parallelism actually reached)
        self._thread = threading.Thread(target=self._run, name="lightdom-decoder", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------
    def submit(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Job:
        """Queue ``request``; its future resolves to a :class:`Generation` (or raises).

        Setting ``cancel`` stops it at the next step (finish reason "cancelled") and frees its sequence.
        """
        if len(request.prompt_tokens) >= self.seq_ctx:
            raise LightdomError(
                f"prompt of {len(request.prompt_tokens)} tokens does not fit the context of {self.seq_ctx} (serving.n_ctx)"
            )
        job = Job(request, cancel)
        with self._cond:
            if self._died is not None:
                raise _stopped(self._died)
            if self._closing:
                raise LightdomError("the model is being unloaded; retry")
            self._pending.append(job)
            self._cond.notify()
        return job

    @property
    def alive(self) -> bool:
        """False once the scheduler thread has died (the pool then loads the model afresh)."""
        return self._died is None

    def busy(self) -> int:
        """Requests in flight or waiting."""
        with self._cond:
            return len(self._slots) + len(self._pending)

    def decoding(self) -> int:
        """Sequences being decoded now (of ``parallel``)."""
        with self._cond:
            return len(self._slots)

    def close(self) -> None:
        """Finish the requests in flight, then free the context (the weights stay with the caller)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        lib = self._lib
        if self.batch is not None:
            lib.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            lib.llama_free(self.ctx)
            self.ctx = None

    # -- scheduler thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - whatever stops the thread fails every waiting call
            self._die(exc)

    def _die(self, exc: BaseException) -> None:
        """The scheduler is gone: every request in flight or queued fails with why; new ones are refused."""
        with self._cond:
            self._died = exc
            jobs = [slot.job for slot in self._slots.values()] + list(self._pending)
            slots = list(self._slots.values())
            self._slots.clear()
            self._pending.clear()
        for slot in slots:  # the samplers are the thread's to free; the context goes with close()
            self._lib.llama_sampler_free(slot.sampler)
            if slot.grammar is not None:
                self._lib.llama_sampler_free(slot.grammar)
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(_stopped(exc))

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._slots and not self._closing:
                    self._cond.wait()
                if self._closing and not self._pending and not self._slots:
                    return
                self._admit()
            try:
                self._step()
            except Exception as exc:  # a failed decode fails the requests in it, not the thread
                for slot in list(self._slots.values()):
                    self._finish(slot, error=exc)

    def _admit(self) -> None:
        free = [s for s in range(self.parallel) if s not in self._slots]
        while self._pending and free:
            job = self._pending.popleft()
            if job.cancelled.is_set():
                job.future.cancel()
                continue
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                limit = min(job.request.max_tokens, self.seq_ctx - len(job.request.prompt_tokens))
                sampler, grammar = self._sampler(job.request)
            except Exception as exc:  # a bad grammar or request fails its request, not the scheduler
                job.future.set_exception(exc)
                continue
            seq, kept = self._reuse(free, job.request.prompt_tokens)
            free.remove(seq)
            greedy = job.request.temperature <= 0 and job.request.repeat_penalty == 1.0
            self._slots[seq] = _Slot(seq=seq, job=job, sampler=sampler, grammar=grammar, limit=max(1, limit),
                                     greedy=greedy, fed=kept, pos=kept, cached=kept)

    def _reuse(self, free: list[int], prompt: list[int]) -> tuple[int, int]:
        """(the free sequence to decode ``prompt`` on, prompt tokens kept in its KV cache).

        First the sequence that keeps the ones in flight in the fewest runs of consecutive ids:
        with one KV stream per sequence llama.cpp decodes only consecutive ids in one pass
        (measured: sequences 0,2,3 take 24.9 ms a step, 0,1,2 take 18.8). Then the one holding
        the longest prefix of ``prompt``, then the emptiest. The rest of what it holds is dropped;
        the prompt's last token is always decoded again (its logits give the first pick).
        """
        busy = set(self._slots)

        def rank(s: int) -> tuple[int, int, int]:
            held = self._held.get(s, [])
            return _runs(busy | {s}), -_common_prefix(held, prompt), len(held)

        seq = min(free, key=rank)
        kept = min(_common_prefix(self._held.pop(seq, []), prompt), len(prompt) - 1)
        lib = self._lib
        if not lib.llama_memory_seq_rm(self.memory, seq, kept, -1):  # a memory that cannot cut a sequence
            lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
            kept = 0
        return seq, max(kept, 0)

    def _sampler(self, request: GenerationRequest) -> tuple[Any, Any]:
        """(sampler chain, grammar sampler or None) for one request."""
        lib = self._lib
        grammar = None
        if request.grammar:
            grammar = lib.llama_sampler_init_grammar(self.vocab, request.grammar.encode(), b"root")
            if not grammar:
                raise LightdomError("the response format could not be turned into a llama.cpp grammar")
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if request.repeat_penalty != 1.0:
            penalties = lib.llama_sampler_init_penalties(self.n_vocab, 64, request.repeat_penalty, 0.0, 0.0)
            lib.llama_sampler_chain_add(chain, penalties)
        if request.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(40))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(request.top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(0.05, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(request.temperature))
            seed = request.seed if request.seed is not None else random.getrandbits(32)
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain, grammar

    def _pick(self, slot: _Slot, logits: Any) -> int:
        """The next token of a constrained sequence (grammar and/or unique names), accepted by its samplers."""
        lib = self._lib
        token = self._choose(slot, logits)
        if slot.job.request.unique_names and self._repeats(slot, token):
            token = self._veto(slot, logits, token)
        if slot.grammar is not None:
            lib.llama_sampler_accept(slot.grammar, token)
        lib.llama_sampler_accept(slot.sampler, token)
        return token

    def _choose(self, slot: _Slot, logits: Any) -> int:
        """The chain's choice when the grammar allows it, else the choice among what the grammar allows."""
        lib, pool = self._lib, self._candidates
        pool.fill(logits)
        lib.llama_sampler_apply(slot.sampler, pool.ref)
        token = int(pool.data["id"][pool.array.selected])
        if slot.grammar is None or pool.allowed(slot.grammar, token):
            return token
        token = pool.most_likely_allowed(slot.grammar, logits) if slot.greedy else -1
        if token < 0:
            pool.fill(logits)
            lib.llama_sampler_apply(slot.grammar, pool.ref)
            lib.llama_sampler_apply(slot.sampler, pool.ref)
            token = int(pool.data["id"][pool.array.selected])
        return token

    def _repeats(self, slot: _Slot, token: int) -> bool:
        """``token`` would close a "name" value repeating an earlier one (only a piece with a quote can)."""
        piece = self._piece(token)
        return b'"' in piece and repeats_name(slot.text, piece.decode("utf-8", "replace"))

    def _veto(self, slot: _Slot, logits: Any, token: int) -> int:
        """The choice with each name-repeating pick refused in turn (greedy: the next most likely one;
        sampled: a fresh draw), at most ``VETO_TRIES``; then the repeat goes through (the validator reports it)."""
        first, work = token, logits.copy()  # the raw logits stay untouched for the answer's log-probability
        for _ in range(VETO_TRIES):
            work[token] = -math.inf
            token = self._choose(slot, work)
            if not math.isfinite(float(work[token])):
                return first  # everything the grammar allows was refused
            if slot.grammar is not None and not self._candidates.allowed(slot.grammar, token):
                return first
            if not self._repeats(slot, token):
                return token
        return first

    def _put(self, n: int, token: int, pos: int, seq: int, logits: bool) -> None:
        batch = self.batch
        batch.token[n] = token
        batch.pos[n] = pos
        batch.n_seq_id[n] = 1
        batch.seq_id[n][0] = seq
        batch.logits[n] = logits

    def _step(self) -> None:
        lib = self._lib
        slots = []
        for slot in sorted(self._slots.values(), key=lambda s: s.seq):
            slot.batch_index = -1
            if slot.job.cancelled.is_set():
                self._finish(slot, reason="cancelled")
            else:
                slots.append(slot)
        # Every generating sequence gets its token; prompts share the room left. The batch is in
        # seq order: with one KV stream per sequence, llama.cpp computes together only consecutive
        # seq ids in batch order (0,2,3,1 would cost two passes).
        room = self.n_batch - sum(1 for slot in slots if slot.last is not None)
        n = 0
        for slot in slots:
            if slot.last is not None:  # generating: one token
                self._put(n, slot.last, slot.pos, slot.seq, True)
                slot.fed_out.append(slot.last)
                slot.batch_index = n
                slot.pos += 1
                n += 1
                continue
            prompt = slot.job.request.prompt_tokens
            take = min(len(prompt) - slot.fed, room)
            for i in range(take):
                end = slot.fed + i == len(prompt) - 1
                self._put(n, prompt[slot.fed + i], slot.pos, slot.seq, end)
                if end:
                    slot.batch_index = n
                slot.pos += 1
                n += 1
            slot.fed += take
            room -= take
        if n == 0:
            return
        self.peak = max(self.peak, sum(1 for slot in self._slots.values() if slot.batch_index >= 0))
        self.batch.n_tokens = n
        rc = lib.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise LightdomError(f"llama_decode failed (code {rc})")
        for slot in list(self._slots.values()):
            if slot.batch_index >= 0:
                self._sample(slot)

    def _sample(self, slot: _Slot) -> None:
        import numpy as np

        lib = self._lib
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.ctx, slot.batch_index), shape=(self.n_vocab,))
        if slot.grammar is None and not slot.job.request.unique_names:
            token = lib.llama_sampler_sample(slot.sampler, self.ctx, slot.batch_index)
        else:
            token = self._pick(slot, logits)
        slot.logprob_sum += _logprob(logits, token)
        if lib.llama_vocab_is_eog(self.vocab, token):
            self._finish(slot, reason="stop")
            return
        slot.n_out += 1
        slot.last = token
        slot.text += slot.decoder.decode(self._piece(token))
        request = slot.job.request
        for stop in request.stop:
            at = slot.text.find(stop, max(0, len(slot.text) - len(stop) - 64))
            if stop and at >= 0:
                slot.text = slot.text[:at]
                self._finish(slot, reason="stop")
                return
        if request.on_text is not None:
            hold = max((len(s) for s in request.stop), default=1) - 1  # a stop string may be starting
            upto = len(slot.text) - hold
            if upto > slot.emitted:
                self._emit(slot, slot.text[slot.emitted:upto])
                slot.emitted = upto
        if slot.n_out >= slot.limit:
            self._finish(slot, reason="length")

    def _piece(self, token: int) -> bytes:
        """The bytes of one token (a long piece gets the buffer it asks for)."""
        buffer = ctypes.create_string_buffer(64)
        size = self._lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = self._lib.llama_token_to_piece(self.vocab, token, buffer, -size, 0, False)
        return buffer.raw[: max(0, size)]

    @staticmethod
    def _emit(slot: _Slot, text: str) -> None:
        """Stream ``text`` to the request's listener; a failing listener stops streaming, not decoding."""
        try:
            slot.job.request.on_text(text)  # type: ignore[misc]
        except Exception:  # the listener went away: the answer still completes (and is logged)
            slot.job.request.on_text = None

    def _finish(self, slot: _Slot, *, reason: str = "stop", error: Exception | None = None) -> None:
        lib = self._lib
        self._slots.pop(slot.seq, None)
        lib.llama_sampler_free(slot.sampler)
        if slot.grammar is not None:
            lib.llama_sampler_free(slot.grammar)
        request = slot.job.request
        if error is not None:  # what the failed step left in the KV cache is unknown
            lib.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
            slot.job.future.set_exception(error)
            return
        self._held[slot.seq] = request.prompt_tokens[:slot.fed] + slot.fed_out  # positions 0..pos-1
        slot.text += slot.decoder.decode(b"", final=True)
        if request.on_text is not None and len(slot.text) > slot.emitted:
            self._emit(slot, slot.text[slot.emitted:])
        steps = slot.n_out + (1 if reason == "stop" else 0)
        slot.job.future.set_result(Generation(
            text=slot.text, finish_reason=reason, prompt_tokens=len(request.prompt_tokens),
            completion_tokens=slot.n_out, mean_logprob=slot.logprob_sum / steps if steps else None,
            cached_tokens=slot.cached,
        ))


def _runs(seqs: set[int]) -> int:
    """Runs of consecutive ids in ``seqs`` ({0,1,3}: 2), the llama.cpp passes a step of them costs."""
    return sum(1 for s in seqs if s - 1 not in seqs)


def _common_prefix(held: list[int], prompt: list[int]) -> int:
    """How many leading tokens ``held`` and ``prompt`` share."""
    n = 0
    for a, b in zip(held, prompt):
        if a != b:
            break
        n += 1
    return n


def _stopped(cause: BaseException) -> LightdomError:
    """The error a call gets once the scheduler thread has died of ``cause`` (one per call: tracebacks differ)."""
    error = LightdomError(f"the model's decoder stopped ({type(cause).__name__}: {cause}); the next call loads it afresh")
    error.__cause__ = cause
    return error


def repeats_name(text: str, piece: str) -> bool:
    """Appending ``piece`` to the JSON ``text`` closes a "name" string value whose text, normalised
    (:func:`~lightdom_tui.prompts.normalise_name`), equals an earlier name's.

    A piece may close the value and go on (``",``) or hold a whole value; escapes are decoded first.
    """
    seen: set[str] = set()
    for match in _NAME_VALUE.finditer(text + piece):
        try:
            value = json.loads(f'"{match.group(1)}"')
        except json.JSONDecodeError:
            value = match.group(1)
        name = normalise_name(value)
        if match.end() > len(text) and name in seen:
            return True
        seen.add(name)
    return False


def _logprob(logits: Any, token: int) -> float:
    """log p(token) under the raw model (before grammar or sampling changes)."""
    import numpy as np

    top = float(logits.max())
    return float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))


class _Candidates:
    """Reusable llama_token_data arrays (the whole vocabulary, and one token) for grammar checks."""

    def __init__(self, lib: Any, n_vocab: int) -> None:
        import numpy as np

        self._lib = lib
        kind = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        self.ids = np.arange(n_vocab, dtype=np.intc)
        self.data = np.zeros(n_vocab, dtype=kind)
        self.array = lib.llama_token_data_array(data=self.data.ctypes.data_as(lib.llama_token_data_p),
                                                size=n_vocab, selected=-1, sorted=False)
        self.ref = ctypes.byref(self.array)
        self.one = np.zeros(1, dtype=kind)
        self.one_array = lib.llama_token_data_array(data=self.one.ctypes.data_as(lib.llama_token_data_p),
                                                    size=1, selected=-1, sorted=False)

    def fill(self, logits: Any) -> None:
        """Every token with its raw logit, unsorted, nothing selected."""
        self.data["id"] = self.ids
        self.data["logit"] = logits
        self.data["p"] = 0.0
        self.array.size, self.array.selected, self.array.sorted = len(self.ids), -1, False

    def most_likely_allowed(self, grammar: Any, logits: Any, tries: int = GREEDY_TRIES) -> int:
        """The most likely token the grammar allows among the ``tries`` most likely ones, else -1.

        Ties go to the lower token id, as the greedy sampler's argmax does.
        """
        import numpy as np

        top = np.argpartition(logits, -tries)[-tries:]
        for token in top[np.lexsort((top, -logits[top]))]:
            if self.allowed(grammar, int(token)):
                return int(token)
        return -1

    def allowed(self, grammar: Any, token: int) -> bool:
        """Whether the grammar accepts ``token`` next (checked on a one-token array)."""
        self.one["id"], self.one["logit"], self.one["p"] = token, 1.0, 0.0
        self.one_array.size, self.one_array.selected, self.one_array.sorted = 1, -1, False
        self._lib.llama_sampler_apply(grammar, ctypes.byref(self.one_array))
        return bool(math.isfinite(float(self.one["logit"][0])))
