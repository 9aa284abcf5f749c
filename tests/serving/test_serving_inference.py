"""The inference core's contracts that need no running gateway."""

from __future__ import annotations

from lightdom_tui.inference.constrained import TruncatedError, complete_untruncated
from lightdom_tui.inference.engine import ChatReply


def test_truncation_policy_asks_again_with_room_and_never_returns_a_cut_answer(embedded_gguf):
    from lightdom_tui.inference.constrained import request_schema
    from lightdom_tui.inference.engine import EnginePool
    from lightdom_tui.prompts import render_attribute_messages
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=512, parallel=2))
    messages = render_attribute_messages("blog post", 2)
    fmt = {"type": "json_object", "schema": request_schema(2)}
    replies: list[ChatReply] = []
    try:
        def call(cap: int) -> ChatReply:
            return pool.chat("e", embedded_gguf, messages, max_tokens=cap, temperature=0.0, response_format=fmt)

        try:  # no attribute list fits in 8 tokens: cut at 4, asked again at 8, then refused
            complete_untruncated(call, 4, ceiling=8, on_reply=replies.append)
        except TruncatedError as exc:
            assert "max_tokens=8" in str(exc)
        else:
            raise AssertionError("a truncated answer was returned")
        assert [r.completion_tokens for r in replies] == [4, 8] and all(r.finish_reason == "length" for r in replies)
    finally:
        pool.close()


def test_a_non_gguf_version_is_not_scored_on_the_remote_fallbacks_answers(remote_ws, fake_api, tmp_path):
    from lightdom_tui.registry.candidate import generate_attributes_for
    from lightdom_tui.registry.versions import register_version

    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with remote_ws.session() as session:
        version = register_version(session, version="merged-v1", kind="merged", format="hf", path=folder)
        session.expunge(version)
    generation = generate_attributes_for(remote_ws, version, "blog post", count=3)
    assert generation.text is None and "not GGUF" in generation.error and "lightdom export" in generation.error
    assert fake_api[1].requests == []  # the remote fallback was never asked


def test_a_request_the_scheduler_cannot_admit_fails_alone(embedded_gguf):
    from lightdom_tui.inference.decoder import GenerationRequest
    from lightdom_tui.inference.engine import EnginePool
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=256, parallel=1))
    try:
        model = pool.get("e", embedded_gguf)
        prompt = model.render([{"role": "user", "content": "Say hi."}])
        bad = model.decoder.submit(GenerationRequest(prompt_tokens=prompt, max_tokens=None))  # type: ignore[arg-type]
        good = model.decoder.submit(GenerationRequest(prompt_tokens=prompt, max_tokens=4))
        try:
            bad.future.result(timeout=60)
        except TypeError:
            pass
        else:
            raise AssertionError("a request without max_tokens was decoded")
        assert good.future.result(timeout=60).completion_tokens >= 1 and model.decoder.alive
    finally:
        pool.close()


def test_when_the_scheduler_thread_dies_every_waiting_call_fails_and_the_pool_reloads(embedded_gguf):
    """A streaming listener that raises SystemExit (not an Exception) ends the decoder thread: the calls in
    flight and queued fail with why, at once; a new call is refused; the pool loads the model afresh."""
    from lightdom_tui.errors import LightdomError
    from lightdom_tui.inference.engine import EnginePool
    from lightdom_tui.settings import ServingSettings

    def quit_listener(text: str) -> None:
        raise SystemExit("listener quit")

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=256, parallel=1))
    messages = [{"role": "user", "content": "Count to twenty."}]
    try:
        model = pool.get("e", embedded_gguf)
        jobs, refused = [model.submit(messages, max_tokens=32, on_text=quit_listener)], 0
        for _ in range(2):  # queued behind it (parallel=1), or refused if the thread died already
            try:
                jobs.append(model.submit(messages, max_tokens=32))
            except LightdomError as exc:
                assert "decoder stopped (SystemExit: listener quit)" in str(exc)
                refused += 1
        for job in jobs:  # each resolves (no hang): failed with the thread's error
            try:
                job.future.result(timeout=60)
            except LightdomError as exc:
                assert "decoder stopped (SystemExit: listener quit)" in str(exc)
                assert isinstance(exc.__cause__, SystemExit)
            else:
                raise AssertionError("a call on a dead decoder was answered")
        assert len(jobs) + refused == 3 and not model.decoder.alive
        try:
            model.submit(messages, max_tokens=4)
        except LightdomError as exc:
            assert "decoder stopped" in str(exc)
        else:
            raise AssertionError("a dead decoder accepted a call")
        fresh = pool.get("e", embedded_gguf)
        assert fresh is not model and fresh.generate(messages, max_tokens=4).completion_tokens >= 1
    finally:
        pool.close()


def test_a_refused_greedy_pick_takes_the_most_likely_token_the_grammar_allows(embedded_gguf):
    """The candidates-first path picks what filtering the whole vocabulary and taking the argmax picks."""
    import llama_cpp
    import numpy as np

    from lightdom_tui.inference.constrained import request_schema
    from lightdom_tui.inference.decoder import _Candidates
    from lightdom_tui.inference.engine import EnginePool, grammar_for
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=256, parallel=1))
    try:
        model = pool.get("e", embedded_gguf)
        decoder = model.decoder
        grammar = llama_cpp.llama_sampler_init_grammar(
            decoder.vocab, grammar_for({"type": "json_object", "schema": request_schema(3)}).encode(), b"root")
        candidates = _Candidates(llama_cpp, decoder.n_vocab)
        for token in model.tokenize('{"attributes": [{"name": "'):  # into a name: [a-z][a-z0-9_]*
            assert candidates.allowed(grammar, token)
            llama_cpp.llama_sampler_accept(grammar, token)
        rng = np.random.default_rng(7)
        candidates.fill(np.zeros(decoder.n_vocab, dtype=np.float32))
        llama_cpp.llama_sampler_apply(grammar, candidates.ref)
        allowed = np.flatnonzero(np.isfinite(candidates.data["logit"]))
        refused = np.flatnonzero(~np.isfinite(candidates.data["logit"]))
        assert len(allowed) > 100 and len(refused) > 100
        for trial in range(6):
            logits = rng.normal(size=decoder.n_vocab).astype(np.float32)
            logits[rng.choice(refused, 10, replace=False)] += 40  # refused favourites on top
            picks = rng.choice(allowed, 3, replace=False)
            logits[picks] = 32.0 + np.array([0.0, 1.0, 1.0]) * (trial % 2)  # ties: the lower id wins
            candidates.fill(logits)
            llama_cpp.llama_sampler_apply(grammar, candidates.ref)
            filtered = candidates.data["logit"]
            expected = int(np.argmax(filtered))  # the greedy sampler: first maximum
            assert candidates.most_likely_allowed(grammar, logits) == expected
        logits = np.zeros(decoder.n_vocab, dtype=np.float32)
        logits[refused[:8]] = 5.0
        assert candidates.most_likely_allowed(grammar, logits, tries=8) == -1  # the caller then filters them all
        llama_cpp.llama_sampler_free(grammar)
    finally:
        pool.close()


def test_a_prompt_that_starts_like_an_earlier_one_decodes_only_the_rest(embedded_gguf):
    """A finished sequence keeps its KV cache; the next request sharing its prefix reuses it."""
    from lightdom_tui.inference.engine import EnginePool
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=512, parallel=2))
    try:
        model = pool.get("e", embedded_gguf)
        first_turn = [{"role": "user", "content": "Name three colours."}]
        prompt = model.render(first_turn)
        fresh = model.generate(first_turn, max_tokens=12)
        again = model.generate(first_turn, max_tokens=12)
        assert (fresh.cached_tokens, again.cached_tokens) == (0, len(prompt) - 1)  # the last token's logits: decoded
        assert again.text == fresh.text  # greedy, the same tokens in the cache: the same answer
        follow_up = [*first_turn, {"role": "assistant", "content": fresh.text},
                     {"role": "user", "content": "And three animals?"}]
        assert prompt == model.render(follow_up)[: len(prompt)]
        later = model.generate(follow_up, max_tokens=12)
        assert later.cached_tokens >= len(prompt)  # the earlier turn is not decoded again
        other = model.generate([{"role": "user", "content": "Count to three."}], max_tokens=4)
        assert other.completion_tokens >= 1 and other.cached_tokens < len(prompt)
    finally:
        pool.close()


def test_runs_count_the_passes_a_step_costs():
    from lightdom_tui.inference.decoder import _runs

    assert [_runs(s) for s in (set(), {2}, {0, 1, 2}, {0, 2, 3}, {0, 1, 3}, {1, 3})] == [0, 1, 1, 2, 2, 2]
