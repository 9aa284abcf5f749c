"""Build the shipped attribute-generation corpus from the hand-written topic data.

Inputs (lightdom_tui/data/attributes/, hand-written for this project, Apache-2.0):
  topics.txt   one topic per line: ``domain | topic | names...`` (``*`` marks held-out)
  fields.tsv   ``name<TAB>type<TAB>description`` for names whose type or description
               the suffix rules below would get wrong or say poorly

Outputs (deterministic: same inputs, same bytes):
  lightdom_tui/data/samples/attribute_generation.jsonl      training examples, one per topic,
      canonical chat form (prompts.render_attribute_messages + the JSON answer)
  lightdom_tui/data/attributes/heldout_references.jsonl     ``{"topic","domain","reference"}``
      for the held-out topics (never in the samples)

Run: ``python scripts/build_attribute_samples.py [--check]`` (--check: fail if outputs differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightdom_tui.prompts import (  # noqa: E402
    ATTRIBUTE_TASK,
    ATTRIBUTE_TYPES,
    SNAKE_CASE,
    render_attribute_messages,
    validate_attribute_answer,
)

DATA = ROOT / "lightdom_tui" / "data" / "attributes"
SAMPLES = ROOT / "lightdom_tui" / "data" / "samples" / "attribute_generation.jsonl"
REFERENCES = DATA / "heldout_references.jsonl"
MAX_COUNT = 10  # held-out references have 5-9 names; the evaluation asks for that many

UNITS = {
    "gb": "GB", "kg": "kg", "cm": "cm", "mm": "mm", "ml": "ml", "mg": "mg", "grams": "grams",
    "liters": "liters", "sqm": "square metres", "inches": "inches", "percentage": "percent",
    "minutes": "minutes", "hours": "hours", "seconds": "seconds", "days": "days", "weeks": "weeks",
    "months": "months", "years": "years", "kmh": "km/h", "km": "km", "kwh": "kWh", "kw": "kW",
    "wh": "Wh", "mah": "mAh", "hz": "Hz", "watts": "watts", "rpm": "rpm", "bar": "bar",
    "usd": "USD", "ms": "milliseconds", "hpa": "hPa", "m": "metres", "cc": "cc", "feet": "feet",
    "c": "degrees Celsius", "bytes": "bytes", "mb": "MB",
}
ACRONYMS = {
    "url": "URL", "id": "ID", "sku": "SKU", "isbn": "ISBN", "ip": "IP", "cpu": "CPU", "api": "API",
    "doi": "DOI", "iata": "IATA", "vin": "VIN", "po": "PO", "nps": "NPS", "utm": "UTM", "og": "Open Graph",
    "h1": "H1", "pm25": "PM2.5", "pm10": "PM10", "ibu": "IBU", "pe": "P/E", "nav": "NAV", "aum": "AUM",
    "ram": "RAM", "cas": "CAS", "issn": "ISSN", "orcid": "ORCID", "cpc": "CPC", "serp": "SERP",
    "ev": "EV", "tv": "TV", "wifi": "Wi-Fi", "dpi": "DPI", "24h": "24h", "seo": "SEO",
}
NUMBER_WORDS = {
    "price", "amount", "cost", "rating", "score", "salary", "budget", "balance", "total", "subtotal",
    "quantity", "year", "latitude", "longitude", "capacity", "age", "points", "rate", "value", "fee",
    "revenue", "income", "stars", "magnitude", "declination", "ascension", "priority", "position",
    "size", "weight", "height", "width", "length", "distance", "duration", "mileage", "volume", "ratio",
    "percentage", "stipend", "deposit", "premium", "deductions", "pay", "nav", "aum", "cap", "supply",
    "index", "level", "count", "refills", "dpi", "pm25", "pm10", "ozone", "ibu", "yield", "return",
    "credits", "seats", "floor", "h_index", "max", "min", "fare", "played", "worked", "limit",
    "owed", "bid", "authority", "monthly", "target", "night", "minute", "pool", "probability",
    "ranking", "low", "high", "factor", "difficulty", "payment", "rent", "built", "experience",
    "available", "burned", "day", "24h", "after", "goal", "cpc", "traffic",
}
BOOLEAN_PREFIXES = ("is_", "has_", "requires_", "can_")
DATE_SUFFIXES = ("_at", "_date", "_time", "_from")


@dataclass(frozen=True)
class Topic:
    """One hand-written topic line."""

    domain: str
    topic: str
    names: tuple[str, ...]
    held_out: bool
    line: int


@dataclass(frozen=True)
class Field:
    """Type and description of one attribute name (description may use {topic})."""

    type: str
    description: str


def humanize(words: list[str]) -> str:
    """Words of a snake_case name as text, acronyms upper-cased."""
    return " ".join(ACRONYMS.get(w, w) for w in words)


def derive_field(name: str) -> Field:
    """Type and description from naming conventions (suffixes, prefixes, plurals)."""
    words = name.split("_")
    if name.startswith(BOOLEAN_PREFIXES):
        verb = words[0] if words[0] != "requires" else "requires"
        text = {"is": "is", "has": "has", "requires": "requires", "can": "can"}[verb]
        return Field("boolean", f"Whether it {text} {humanize(words[1:])}")
    if name.endswith(("_allowed", "_included", "_renew", "_given")) or name in {"in_stock", "attended", "emergency_services"}:
        return Field("boolean", f"Whether {humanize(words)}".replace(" ", " ", 1))
    if name.endswith(DATE_SUFFIXES) or name in {"timestamp", "lastmod", "deadline", "date_published", "date_modified", "sleep_start", "sleep_end", "date_of_birth"}:
        stem = words[:-1] if words[-1] in {"at", "date", "time"} else words
        if words[-1] == "at" and stem and stem[-1].endswith("ed"):
            return Field("date", f"When it was {humanize(stem)}")
        if words[-1] == "at" and len(stem) == 1 and stem[0].endswith("s"):
            return Field("date", f"When it {stem[0]}")
        label = humanize(stem) if stem else humanize(words)
        suffix = {"at": "time", "date": "date", "time": "time"}.get(words[-1], "")
        return Field("date", f"{label.capitalize()} {suffix}".strip())
    if len(words) > 1 and words[-1] == "count":
        noun = humanize(words[:-1])
        return Field("number", f"Number of {noun if noun.endswith('s') else noun + 's'}")
    if len(words) > 1 and words[-1] in UNITS:
        return Field("number", f"{humanize(words[:-1]).capitalize()} in {UNITS[words[-1]]}")
    if words[-1] in NUMBER_WORDS or words[0] in {"total", "max", "min"} and len(words) > 1:
        return Field("number", f"{humanize(words).capitalize()} of the {{topic}}")
    if len(words) > 1 and words[-1] == "url":
        return Field("string", f"{humanize(words[:-1]).capitalize()} URL")
    if name == "url":
        return Field("string", "Web address of the {topic}")
    if len(words) > 1 and words[-1] == "id":
        return Field("string", f"ID of the {humanize(words[:-1])}")
    if words[-1].endswith("s") and not words[-1].endswith(("ss", "us", "is", "ics", "hours", "news")):
        return Field("array", f"{humanize(words).capitalize()} of the {{topic}}")
    return Field("string", f"{humanize(words).capitalize()} of the {{topic}}")


def read_fields(path: Path) -> dict[str, Field]:
    """Hand-written overrides: ``name<TAB>type<TAB>description`` (``#`` comments)."""
    fields: dict[str, Field] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"{path}:{number}: expected name<TAB>type<TAB>description")
        name, kind, description = (p.strip() for p in parts)
        if not SNAKE_CASE.match(name) or kind not in ATTRIBUTE_TYPES or not description:
            raise SystemExit(f"{path}:{number}: bad field {name!r} / {kind!r}")
        if name in fields:
            raise SystemExit(f"{path}:{number}: {name!r} defined twice")
        fields[name] = Field(kind, description)
    return fields


def read_topics(path: Path) -> list[Topic]:
    """Parse topics.txt, checking names, duplicates and held-out disjointness."""
    topics: list[Topic] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        held_out = raw.startswith("*")
        parts = [p.strip() for p in raw.lstrip("* ").split("|")]
        if len(parts) != 3:
            raise SystemExit(f"{path}:{number}: expected 'domain | topic | names'")
        domain, topic, names = parts[0], parts[1], tuple(parts[2].split())
        key = topic.lower()
        if key in seen:
            raise SystemExit(f"{path}:{number}: topic {topic!r} already on line {seen[key]}")
        seen[key] = number
        bad = [n for n in names if not SNAKE_CASE.match(n)]
        if bad or len(set(names)) != len(names) or len(names) < 4:
            raise SystemExit(f"{path}:{number}: names must be >= 4 unique snake_case names ({bad})")
        topics.append(Topic(domain, topic, names, held_out, number))
    return topics


def count_for(topic: Topic) -> int:
    """Requested count: usually all names up to MAX_COUNT; one topic in five asks for fewer."""
    full = min(len(topic.names), MAX_COUNT)
    digest = int(hashlib.sha256(topic.topic.encode()).hexdigest(), 16)
    return full if digest % 5 else max(4, full - 1 - digest % 3)


def answer_for(topic: Topic, count: int, fields: dict[str, Field]) -> str:
    """The assistant's JSON answer: the first ``count`` names with type and brief description."""
    noun = topic.topic.lower()
    attributes = []
    for name in topic.names[:count]:
        field = fields.get(name) or derive_field(name)
        attributes.append({"name": name, "type": field.type, "description": field.description.replace("{topic}", noun)})
    return json.dumps({"attributes": attributes}, ensure_ascii=False, separators=(",", ":"))


def build(topics: list[Topic], fields: dict[str, Field]) -> tuple[list[str], list[str]]:
    """Sample lines and reference lines (JSONL, sorted as in topics.txt)."""
    samples, references = [], []
    for topic in topics:
        if topic.held_out:
            references.append(json.dumps({"topic": topic.topic, "domain": topic.domain, "reference": list(topic.names)}))
            continue
        count = count_for(topic)
        answer = answer_for(topic, count, fields)
        check = validate_attribute_answer(answer)
        if not check.ok:
            raise SystemExit(f"topics.txt:{topic.line}: answer fails the contract: {check.errors}")
        messages = render_attribute_messages(topic.topic, count) + [{"role": "assistant", "content": answer}]
        record = {
            "messages": messages,
            "task_type": ATTRIBUTE_TASK,
            "source": "sample",
            "metadata": {"topic": topic.topic, "domain": topic.domain, "count": count},
        }
        samples.append(json.dumps(record, ensure_ascii=False))
    return samples, references


def main(argv: list[str] | None = None) -> int:
    """Build (or with --check verify) the corpus files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the outputs are out of date")
    parser.add_argument("--list-fields", action="store_true", help="print every name with its type and description")
    args = parser.parse_args(argv)
    fields = read_fields(DATA / "fields.tsv")
    topics = read_topics(DATA / "topics.txt")
    if args.list_fields:
        for name in sorted({n for t in topics for n in t.names}):
            field = fields.get(name) or derive_field(name)
            print(f"{name}\t{field.type}\t{field.description}\t{'hand' if name in fields else 'rule'}")
        return 0
    samples, references = build(topics, fields)
    outputs = {SAMPLES: "\n".join(samples) + "\n", REFERENCES: "\n".join(references) + "\n"}
    if args.check:
        stale = [str(p) for p, text in outputs.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    train = [t for t in topics if not t.held_out]
    print(json.dumps({"training_topics": len(train), "held_out_topics": len(topics) - len(train),
                      "domains": len({t.domain for t in topics}), "unique_names": len({n for t in topics for n in t.names})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
