"""The curated set as the model's memory: the most similar approved examples as few-shot turns.

A version trained with ``fewshot_k > 0`` records ``fewshot`` (k) and ``memory_dataset`` (its
dataset version's id) in its attribute prompt. Every request to it is then rendered with
the k examples of that dataset version whose topics are most similar to the asked topic
(character-trigram TF-IDF cosine: no model, deterministic, a few ms for thousands of
topics) as earlier user/assistant turns in the version's own wording, before the real
question. Serving (the router) and evaluation (``registry.candidate``) both render through
``render_for_version``, so what is measured is what is served. A dataset version is
immutable, so its index is built once per process. No torch here.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lightdom_tui.prompts import (
    ATTRIBUTE_TASK,
    PromptConfig,
    render_attribute_messages,
    validate_attribute_answer,
)


@dataclass(frozen=True)
class Shot:
    """One remembered example: its topic, how many attributes it gives, the answer text."""

    topic: str
    count: int
    answer: str


def trigrams(text: str) -> Counter:
    """Character trigrams of a padded, lower-cased topic."""
    padded = f"  {text.lower().strip()} "
    return Counter(padded[i:i + 3] for i in range(len(padded) - 2))


class ShotIndex:
    """Topics of the remembered examples, searchable by TF-IDF cosine over character trigrams."""

    def __init__(self, shots: list[Shot]) -> None:
        self.shots = shots
        grams = [trigrams(s.topic) for s in shots]
        df = Counter(g for c in grams for g in c)
        self.idf = {g: math.log((1 + len(shots)) / (1 + n)) + 1 for g, n in df.items()}
        self.vectors = [self._vector(c) for c in grams]

    def _vector(self, grams: Counter) -> dict[str, float]:
        vector = {g: n * self.idf.get(g, 1.0) for g, n in grams.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {g: v / norm for g, v in vector.items()}

    def nearest(self, topic: str, k: int) -> list[Shot]:
        """The ``k`` most similar remembered examples (never one with the same topic), most similar last
        (closest to the question)."""
        query = self._vector(trigrams(topic))
        wanted = topic.strip().lower()
        scored = sorted(
            ((sum(w * vec.get(g, 0.0) for g, w in query.items()), -i) for i, vec in enumerate(self.vectors)
             if self.shots[i].topic.strip().lower() != wanted),
            reverse=True,
        )  # ties: the earlier example first (-i), so the choice is deterministic
        return [self.shots[-neg] for _, neg in scored[:k]][::-1]


def with_shots(messages: list[dict[str, Any]], topic: Any, index: ShotIndex, prompts: PromptConfig,
               k: int) -> list[dict[str, Any]]:
    """A stored conversation asked the way a version with memory is asked: the ``k`` remembered
    examples nearest ``topic`` (never its own topic: leave-one-out when a dataset is its own
    memory) inserted before its question, in ``prompts``' wording. Training and the in-training
    task metric use it; serving renders the same turns through ``render_for_version``."""
    if not isinstance(topic, str) or not topic.strip() or k <= 0:
        return messages
    shots = render_attribute_messages(topic, 1, None, prompts, shots=index.nearest(topic, k))[:-1]
    system = 1 if messages and messages[0].get("role") == "system" else 0
    earlier = shots[1:] if shots and shots[0].get("role") == "system" else shots
    return [*messages[:system], *earlier, *messages[system:]]


def dataset_shots(session: Any, dataset_id: int) -> list[Shot]:
    """The valid attribute examples of a dataset version (both splits: all of the user's curated data)."""
    from lightdom_tui.curation.datasets import dataset_rows  # lazy: curation stays out of serving's import
    from lightdom_tui.db.jsoncol import loads

    shots: list[Shot] = []
    for example, messages in dataset_rows(session, dataset_id):
        if example.task_type != ATTRIBUTE_TASK or not messages or messages[-1].get("role") != "assistant":
            continue
        topic = loads(example.metadata_json, {}).get("topic")
        answer = messages[-1].get("content") or ""
        check = validate_attribute_answer(answer)
        if isinstance(topic, str) and topic.strip() and check.ok:
            shots.append(Shot(topic.strip(), len(check.attributes), answer))
    return shots


_INDEXES: dict[tuple[str, int], ShotIndex] = {}
_LOCK = threading.Lock()


def index_for(ws: Any, dataset_id: int) -> ShotIndex:
    """The (cached) index of a dataset version of workspace ``ws``."""
    key = (str(ws.root), dataset_id)
    with _LOCK:
        found = _INDEXES.get(key)
    if found is None:
        with ws.session() as session:
            found = ShotIndex(dataset_shots(session, dataset_id))
        with _LOCK:
            _INDEXES[key] = found
    return found


def render_for_version(ws: Any, topic: str, count: int, context: str | None,
                       prompts: PromptConfig) -> list[dict[str, str]]:
    """The request messages for a version: its wording, plus its remembered examples when it has some."""
    if prompts.fewshot <= 0 or prompts.memory_dataset is None:
        return render_attribute_messages(topic, count, context, prompts)
    shots = index_for(ws, prompts.memory_dataset).nearest(topic, prompts.fewshot)
    return render_attribute_messages(topic, count, context, prompts, shots=shots)
