"""Dataset versions: a frozen, immutable selection of examples with a seeded, stratified split.

``build_dataset`` never changes an existing version: each build of NAME gets the next
version number. The manifest hash covers (example id, content hash, split) in id order,
so two builds of the same selection with the same seed have the same hash. Each
version records the system prompt and user template of its examples per task type
(what is trained is what is served).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import and_, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from lightdom_tui.curation.pii import ALL_KINDS, PiiReport, anonymise_messages
from lightdom_tui.curation.query import ExampleFilter
from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import DATASET_SPLIT_VALUES, Dataset, DatasetItem, Example
from lightdom_tui.bounds import row_id
from lightdom_tui.errors import LightdomError
from lightdom_tui.prompts import ATTRIBUTE_TASK, DEFAULT_SYSTEM_PROMPT, DEFAULT_USER_TEMPLATE, infer_attribute_prompt
from lightdom_tui.safepath import validate_name
from lightdom_tui.workspace import Workspace

PROMPT_SAMPLE = 2000  # examples per task type read to find its system prompt


def split_ids(ids_by_task: dict[str, list[int]], split: float, seed: int) -> dict[int, str]:
    """Seeded split stratified by task type: each task type keeps ``split`` of its examples for training.

    A task type with two or more examples always puts at least one into validation (when split < 1).
    """
    assignment: dict[int, str] = {}
    for task_type in sorted(ids_by_task):
        ids = sorted(ids_by_task[task_type])
        random.Random(f"{seed}:{task_type}").shuffle(ids)
        n_val = round(len(ids) * (1.0 - split))
        if split < 1.0 and len(ids) >= 2:
            n_val = min(max(1, n_val), len(ids) - 1)
        for index, example_id in enumerate(ids):
            assignment[example_id] = "validation" if index < n_val else "train"
    return assignment


def manifest_hash(rows: list[tuple[int, str, str]]) -> str:
    """SHA-256 over ``id:content_hash:split`` lines in id order."""
    digest = hashlib.sha256()
    for example_id, content_key, split in sorted(rows):
        digest.update(f"{example_id}:{content_key}:{split}\n".encode())
    return digest.hexdigest()


def _answer_count(messages: list[dict[str, Any]]) -> int | None:
    """How many attributes the example's last assistant answer lists (its implied count)."""
    answer = next((m.get("content") for m in reversed(messages) if m.get("role") == "assistant"), None)
    try:
        items = json.loads(answer or "").get("attributes")
    except (json.JSONDecodeError, TypeError, AttributeError):
        return None
    return len(items) if isinstance(items, list) else None


def _prompts_for(session: Session, task_type: str, ids: list[int]) -> dict[str, Any]:
    """The prompt a task type's examples actually use (what is trained is what is served).

    Attribute generation: a prompt the examples declare (``metadata.prompts``, as logged
    calls record what was rendered) wins, since it keeps its ``{count}`` blank even where an
    answer's length cannot reveal the count. Otherwise each example's own system message and
    user wording become a template (``prompts.infer_attribute_prompt``, checked by rendering it
    back). The version records the most common one, with how many examples agree; the
    product default applies only when neither exists. Other task types: the most common
    system prompt.
    """
    systems: Counter = Counter()
    carried: Counter = Counter()
    inferred: Counter = Counter()
    sampled = 0
    for messages_json, metadata_json in session.exec(
        select(Example.messages_json, Example.metadata_json).where(Example.id.in_(ids[:PROMPT_SAMPLE]))
    ):
        sampled += 1
        messages = loads(messages_json, [])
        metadata = loads(metadata_json, {})
        if messages and messages[0].get("role") == "system":
            systems[messages[0]["content"]] += 1
        if task_type != ATTRIBUTE_TASK:
            continue
        prompts = metadata.get("prompts")
        if isinstance(prompts, dict) and isinstance(prompts.get("system"), str):
            carried[(prompts["system"], str(prompts.get("user_template") or DEFAULT_USER_TEMPLATE))] += 1
        count = metadata.get("count") if isinstance(metadata.get("count"), int) else _answer_count(messages)
        context = metadata.get("context") if isinstance(metadata.get("context"), str) else None
        found = infer_attribute_prompt(messages, str(metadata.get("topic") or ""), count, context)
        if found is not None:
            inferred[(found.system, found.user_template)] += 1
    if task_type == ATTRIBUTE_TASK:
        for source, votes in (("metadata", carried), ("inferred", inferred)):
            if votes:
                (system, template), matched = votes.most_common(1)[0]
                return {"system": system, "user_template": template, "source": source,
                        "matched": matched, "sampled": sampled}
        return {"system": DEFAULT_SYSTEM_PROMPT, "user_template": DEFAULT_USER_TEMPLATE, "source": "default",
                "matched": 0, "sampled": sampled}
    system = systems.most_common(1)[0][0] if systems else ""
    return {"system": system, "user_template": "{input}"}


def build_dataset(
    ws: Workspace,
    name: str,
    *,
    split: float = 0.8,
    seed: int = 0,
    task_type: str | list[str] | None = None,
    status: str | list[str] | None = "approved",
    anonymise: bool | None = None,
    filter: ExampleFilter | None = None,  # noqa: A002 - mirrors the CLI's filter options
) -> Dataset:
    """Freeze the selected examples into a new immutable version of dataset ``name``."""
    name = validate_name(name, "dataset")  # it names export folders: no '/', '..', '@' or bare numbers
    if not 0.0 < split <= 1.0:
        raise LightdomError(f"--split {split}: must be in (0, 1]")
    anonymise = ws.settings.curation.anonymise if anonymise is None else anonymise
    f = filter or ExampleFilter()
    if status is not None:
        f.status = status
    if task_type is not None:
        f.task_type = task_type
    with ws.session() as session:
        conds = f.conditions()
        statement = select(Example.id, Example.task_type, Example.content_hash).order_by(Example.id)
        if conds:
            statement = statement.where(and_(*conds))
        selected = session.exec(statement).all()
        if not selected:
            raise LightdomError(f"dataset {name}: no examples match {f.to_dict() or 'the selection'}")
        by_task: dict[str, list[int]] = defaultdict(list)
        for example_id, kind, _ in selected:
            by_task[kind].append(example_id)
        assignment = split_ids(by_task, split, seed)
        rows = [(example_id, key, assignment[example_id]) for example_id, _, key in selected]
        version = (session.exec(select(func.max(Dataset.version)).where(Dataset.name == name)).one() or 0) + 1
        n_val = sum(1 for r in rows if r[2] == "validation")
        dataset = Dataset(
            name=name,
            version=version,
            rules_json=dumps({"filter": f.to_dict(), "split": split, "seed": seed, "anonymise": anonymise,
                              "pii_kinds": list(ws.settings.curation.pii_kinds)}),
            manifest_hash=manifest_hash(rows),
            seed=seed,
            split_ratio=split,
            n_train=len(rows) - n_val,
            n_validation=n_val,
            prompts_json=dumps({kind: _prompts_for(session, kind, ids) for kind, ids in sorted(by_task.items())}),
        )
        session.add(dataset)
        try:
            session.flush()
        except IntegrityError:  # a build of the same name took this version number first
            raise LightdomError(f"dataset {name}: another build created version {version} at the same time; "
                                "nothing was written, run it again") from None
        for start in range(0, len(rows), 50_000):
            session.execute(insert(DatasetItem), [
                {"dataset_id": dataset.id, "example_id": example_id, "split": part}
                for example_id, _, part in rows[start:start + 50_000]
            ])
        return dataset


def get_dataset(session: Session, ref: str | int) -> Dataset:
    """A dataset version by id, ``NAME@VERSION`` or ``NAME`` (latest version)."""
    text = str(ref).strip()
    if text.isdigit():
        found = session.get(Dataset, row_id(text)) if row_id(text) else None
    elif "@" in text:
        name, _, version = text.rpartition("@")
        if row_id(version) is None:
            raise LightdomError(f"dataset {text!r}: version after '@' must be a number")
        found = session.exec(select(Dataset).where(Dataset.name == name, Dataset.version == int(version))).first()
    else:
        found = session.exec(select(Dataset).where(Dataset.name == text).order_by(Dataset.version.desc())).first()
    if found is None:
        raise LightdomError(f"dataset {text!r}: not found (lightdom dataset list)")
    return found


def list_datasets(session: Session) -> list[Dataset]:
    """Every dataset version, newest first."""
    return list(session.exec(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc())).all())


def dataset_prompts(dataset: Dataset) -> dict[str, dict[str, Any]]:
    """Per task type ``{"system", "user_template"}`` recorded with the version."""
    return loads(dataset.prompts_json, {})


def dataset_rows(
    session: Session, dataset_id: int, split: str | None = None, *, report: PiiReport | None = None,
) -> list[tuple[Example, list[dict[str, Any]]]]:
    """(Example, messages) of a version in id order; messages anonymised when the version says so."""
    if split is not None and split not in DATASET_SPLIT_VALUES:
        raise LightdomError(f"split {split!r}: must be one of {', '.join(DATASET_SPLIT_VALUES)}")
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise LightdomError(f"dataset {dataset_id}: not found")
    rules = loads(dataset.rules_json, {})
    statement = select(Example).join(DatasetItem, DatasetItem.example_id == Example.id).where(
        DatasetItem.dataset_id == dataset_id)
    if split is not None:
        statement = statement.where(DatasetItem.split == split)
    out = []
    for example in session.exec(statement.order_by(Example.id)):
        messages = loads(example.messages_json, [])
        if rules.get("anonymise"):
            messages = anonymise_messages(messages, rules.get("pii_kinds", ALL_KINDS), report)
        out.append((example, messages))
    return out
