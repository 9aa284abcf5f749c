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
