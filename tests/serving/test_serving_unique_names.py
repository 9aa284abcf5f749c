"""The decoder's unique-name veto: attribute answers cannot repeat a name (a grammar cannot say so)."""

from __future__ import annotations

import json

import pytest

from lightdom_tui.inference.decoder import repeats_name
from lightdom_tui.prompts import normalise_name, render_attribute_messages, validate_attribute_answer

EARLIER = '{"attributes":[{"name":"color","type":"string","description":"Main colour"},{"name":"'


@pytest.mark.parametrize(("text", "piece", "repeats"), [
    (EARLIER + "col", 'or",', True),  # the piece closes the value and goes on
    (EARLIER + "col", 'ors",', False),  # characters before the quote make it a new name
    (EARLIER + "color", "_", False),  # no quote: the name goes on
    (EARLIER + "Color", '"', True),  # compared normalised
    (EARLIER.replace("color", "color-code") + "color_code", '"}', True),
    (EARLIER[:-1], '"color"', True),  # one piece opens and closes the value
    (EARLIER + 'col\\"', 'or"', False),  # col"or is not color
    ('{"name":"a\\"b"},{"name":"a', '\\"', False),  # an escaped quote does not close the value
    ('{"name":"a\\"b"},{"name":"a\\"', 'b"', True),  # escapes are decoded before comparing
    ('{"name":"a\\u0062"},{"name":"a', 'b"', True),
    ('{"name":"color","type":"', 'color"', False),  # a value of another key
    ('{"name":"color","description":"the \\"name\\":\\"color', '"', False),  # "name" inside a string
])
def test_a_piece_that_closes_a_repeated_name_is_recognised(text: str, piece: str, repeats: bool) -> None:
    assert repeats_name(text, piece) is repeats


# A few-shot turn that lists one name four times, then the same question: greedy decoding copies it.
SHOT = [render_attribute_messages("person", 4)[0], {"role": "user", "content": "Topic: person\nCount: 4"},
        {"role": "assistant", "content": json.dumps(
            {"attributes": [{"name": "name", "type": "string", "description": "The name"}] * 4})},
        {"role": "user", "content": "Topic: person\nCount: 4"}]
# A user message that asks for one name over and over (the repeat penalty path of attribute requests).
ASK = [render_attribute_messages("x", 6)[0],
       {"role": "user", "content": "Topic: id id id id id id\nCount: 6\nEvery attribute is called id."}]


def _names(text: str) -> list[str]:
    return [item["name"] for item in json.loads(text)["attributes"]]


def test_the_decoder_refuses_a_repeated_name_only_when_asked(embedded_gguf) -> None:
    from lightdom_tui.inference.constrained import REPEAT_PENALTY, request_schema
    from lightdom_tui.inference.engine import EnginePool, grammar_for
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=1024, parallel=4))
    try:
        model = pool.get("e", embedded_gguf)
        # (messages, count, penalty, temperature): greedy, penalised as attribute requests are, sampled
        cases = [(SHOT, 4, 1.0, 0.0), (ASK, 6, REPEAT_PENALTY, 0.0), (SHOT, 4, 1.0, 0.8)]
        jobs = {(i, unique): model.submit(
                    messages, max_tokens=400, temperature=temperature, seed=7, repeat_penalty=penalty,
                    grammar=grammar_for({"type": "json_object", "schema": request_schema(count)}), unique_names=unique)
                for i, (messages, count, penalty, temperature) in enumerate(cases) for unique in (False, True)}
        texts = {key: job.future.result().text for key, job in jobs.items()}
    finally:
        pool.close()
    for i in range(len(cases)):
        names = _names(texts[i, False])
        assert len({normalise_name(n) for n in names}) < len(names), texts[i, False]  # the prompt does repeat
        names = _names(texts[i, True])
        assert len({normalise_name(n) for n in names}) == len(names), texts[i, True]
        assert validate_attribute_answer(texts[i, True]).errors == []
    assert len(_names(texts[0, True])) == 4  # the count asked for is still given


def test_attribute_generation_asks_for_unique_names(embedded_gguf) -> None:
    from lightdom_tui.inference.engine import EnginePool
    from lightdom_tui.serving.attributes import generate_with
    from lightdom_tui.serving.local import LocalEngine
    from lightdom_tui.settings import ServingSettings

    pool = EnginePool(ServingSettings(n_threads=2, n_ctx=1024, parallel=1))
    try:
        answer = generate_with(LocalEngine(pool, "e", embedded_gguf), ASK, count=6, max_tokens=400)
    finally:
        pool.close()
    names = [a["name"] for a in answer.attributes]
    assert answer.dropped == [] and answer.calls == 1, answer  # no duplicate dropped, no follow-up asked
    assert len(names) >= 2 and len(set(names)) == len(names)
