"""Lever probe (issue 15): the curated set as the model's memory, at serving time.

For each held-out topic, the ``k`` most similar approved examples of the workspace (by
character-trigram TF-IDF cosine of the topics; no model needed) are put before the
question as earlier user/assistant turns, in the version's own wording. The request is
otherwise serving's: the version's prompt (``prompts.version_prompts``), the attribute
grammar capped at the reference's count (``serving.attributes.request_schema``), greedy,
serving's repeat penalty, on the product's engine pool (``registry.candidate.complete_json``).
Scored like ``registry.evaluation``: micro F1 of normalised unique names.

    python experiments/fewshot_eval.py --home WS --version V --references heldout.jsonl --k 3
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from lightdom_tui.curation.examples import example_metadata  # noqa: E402
from lightdom_tui.db.jsoncol import loads  # noqa: E402
from lightdom_tui.db.models import Example  # noqa: E402
from lightdom_tui.prompts import normalise_name, render_attribute_messages, validate_attribute_answer, version_prompts  # noqa: E402
from lightdom_tui.registry.versions import get_version  # noqa: E402
from lightdom_tui.workspace import open_workspace  # noqa: E402


def trigrams(text: str) -> Counter:
    padded = f"  {text.lower()} "
    return Counter(padded[i:i + 3] for i in range(len(padded) - 2))


class Memory:
    """Approved attribute examples, searchable by topic similarity."""

    def __init__(self, items: list[tuple[str, int, str]]) -> None:
        self.items = items  # (topic, count, answer json)
        grams = [trigrams(t) for t, _, _ in items]
        df = Counter(g for c in grams for g in c)
        self.idf = {g: math.log(len(items) / n) + 1 for g, n in df.items()}
        self.vectors = [self._vector(c) for c in grams]

    def _vector(self, grams: Counter) -> dict[str, float]:
        vector = {g: n * self.idf.get(g, 1.0) for g, n in grams.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {g: v / norm for g, v in vector.items()}

    def nearest(self, topic: str, k: int) -> list[tuple[str, int, str]]:
        query = self._vector(trigrams(topic))
        scored = sorted(((sum(w * v.get(g, 0.0) for g, w in query.items()), i) for i, v in enumerate(self.vectors)),
                        reverse=True)
        return [self.items[i] for _, i in scored[:k]]


def load_memory(ws: Any) -> Memory:
    with ws.session() as session:
        rows = session.exec(select(Example).where(Example.status == "approved",
                                                  Example.task_type == "attribute_generation")).all()
        items = []
        for row in rows:
            messages = loads(row.messages_json, [])
            topic = example_metadata(row).get("topic")
            answer = messages[-1].get("content") if messages and messages[-1].get("role") == "assistant" else None
            check = validate_attribute_answer(answer or "")
            if topic and check.ok:
                items.append((str(topic), len(check.attributes), answer))
    return Memory(items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--references", type=Path, required=True)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    from lightdom_tui.registry.candidate import complete_json
    from lightdom_tui.serving.attributes import REPEAT_PENALTY, request_schema

    ws = open_workspace(args.home)
    memory = load_memory(ws)
    with ws.session() as session:
        version = get_version(session, args.version)
        session.expunge(version)
    prompts = version_prompts(version)
    refs = [json.loads(line) for line in args.references.read_text().splitlines() if line.strip()]
    refs = refs[: args.limit] if args.limit else refs
    hits = predicted = wanted = valid = 0
    for ref in refs:
        count = len(ref["reference"])
        messages = render_attribute_messages(ref["topic"], count, None, prompts)
        shots: list[dict[str, str]] = []
        for topic, n, answer in (memory.nearest(ref["topic"], args.k) if args.k else []):
            shots += [render_attribute_messages(topic, n, None, prompts)[-1], {"role": "assistant", "content": answer}]
        messages = messages[:-1] + shots + messages[-1:]
        done = complete_json(ws, version, messages, request_schema(count), repeat_penalty=REPEAT_PENALTY)
        check = validate_attribute_answer(done.text or "")
        valid += check.json_valid
        names = {normalise_name(a["name"]) for a in check.attributes}
        wanted_names = {normalise_name(n) for n in ref["reference"]}
        hits += len(names & wanted_names)
        predicted += len(names)
        wanted += len(wanted_names)
    precision, recall = hits / max(predicted, 1), hits / max(wanted, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(json.dumps({"version": args.version, "k": args.k, "items": len(refs), "memory": len(memory.items),
                      "f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
                      "json_validity": round(valid / max(len(refs), 1), 4)}))


if __name__ == "__main__":
    main()
