"""Benchmark: phone-number recall of PII anonymisation over five locales, before and after.

Generates valid phone numbers for US, GB, DE, FR and AU (random digits accepted by
``phonenumbers.is_valid_number``) and writes each in the forms people use: international,
E.164, national, national digits only, a bracketed area code without a space
(``(0121)4960448``) and national with dashes, planted in short sentences. Also a set of
ordinary numbers that must stay (dates, times, versions, prices, SKUs, order numbers,
timestamps) to measure false positives.

- after:    ``anonymise_text`` as shipped (shape patterns + national forms validated by phonenumbers);
- baseline: the same call with ``phone_regions=()``: the hand-written shape patterns alone,
            which is what anonymisation did before.

Writes bench/results/pii_phones.json. ``--per-form`` sets numbers per locale and form (default 200).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lightdom_tui.curation.pii import PLACEHOLDERS, anonymise_text  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pii_phones.json"
LOCALES = ("US", "GB", "DE", "FR", "AU")
TEMPLATES = (
    "Please call {v} about the order.",
    "Customer note: reach me on {v}. Follow up tomorrow.",
    "Tel.: {v}",
    "Contact ({v}) before 5pm.",
    "Sent from {v}, price 19.99 EUR, version 1.2.3",
)
NEGATIVES = (
    "Log line 2024-05-01 10:30:00 status=200", "Order #{n8} shipped", "Invoice {n10d} paid", "SKU {n6}-{n4}",
    "version {a}.{b}.{c}", "Price {a}.99 EUR for {b} items", "timestamp 1{n9}", "ISBN 978{n10}", "rating 4.5/5",
    "date 01/02/2024 and 2024/02/01", "between {n4} and {n4b}", "ticket {n8}", "page {a} of {b}, year 2026",
)


def _random_valid(region: str, rng: random.Random) -> phonenumbers.PhoneNumber:
    """A random valid fixed-line or mobile number of a region (example number with digits re-drawn)."""
    kind = rng.choice((PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE))
    example = phonenumbers.example_number_for_type(region, kind)
    national = str(example.national_number)
    for _ in range(200):
        keep = rng.randrange(1, 4)
        digits = national[:keep] + "".join(str(rng.randrange(10)) for _ in national[keep:])
        number = phonenumbers.parse("+" + str(example.country_code) + digits)
        if phonenumbers.is_valid_number(number):
            return number
    return example


def forms(number: phonenumbers.PhoneNumber) -> dict[str, str]:
    """The ways one number gets written."""
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    if national.startswith("("):  # NANP: (415) 555-0123
        area, rest = national[1:].split(")", 1)
    else:
        area, _, rest = national.partition(" ")
    return {
        "international": phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        "e164": phonenumbers.format_number(number, PhoneNumberFormat.E164),
        "national": national,
        "national_digits": digits,
        "bracketed_area": f"({area}){''.join(c for c in rest if c.isdigit())}",
        "national_dashes": national.replace(" ", "-") if " " in national else national,
    }


def _negatives(rng: random.Random, n: int) -> list[str]:
    def digits(k: int) -> str:
        return str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10)) for _ in range(k - 1))

    out = []
    for _ in range(n):
        template = rng.choice(NEGATIVES)
        out.append(template.format(n4=digits(4), n4b=digits(4), n6=digits(6), n8=digits(8), n9=digits(9),
                                   n10=digits(10), n10d="INV-" + digits(10), a=rng.randrange(1, 30),
                                   b=rng.randrange(1, 30), c=rng.randrange(1, 30)))
    return out


def measure(per_form: int, seed: int = 0) -> dict:
    """Recall per locale and form and false positives, with and without the phonenumbers pass."""
    rng = random.Random(seed)
    planted: list[tuple[str, str, str, str]] = []  # locale, form, value, text
    for locale in LOCALES:
        for _ in range(per_form):
            number = _random_valid(locale, rng)
            for form, value in forms(number).items():
                planted.append((locale, form, value, rng.choice(TEMPLATES).format(v=value)))
    negatives = _negatives(rng, per_form * 5)
    result: dict = {}
    for label, regions in (("baseline", ()), ("after", None)):
        kwargs = {} if regions is None else {"phone_regions": regions}
        hits: Counter = Counter()
        totals: Counter = Counter()
        started = time.perf_counter()
        for locale, form, value, text in planted:
            out = anonymise_text(text, ["phone"], **kwargs)
            found = value not in out and PLACEHOLDERS["phone"] in out
            for key in (locale, f"form:{form}", "all"):
                totals[key] += 1
                hits[key] += found
        false_positives = sum(PLACEHOLDERS["phone"] in anonymise_text(t, ["phone"], **kwargs) for t in negatives)
        seconds = time.perf_counter() - started
        result[label] = {
            "recall": round(hits["all"] / totals["all"], 4),
            "recall_by_locale": {k: round(hits[k] / totals[k], 4) for k in LOCALES},
            "recall_by_form": {k[5:]: round(hits[k] / totals[k], 4) for k in totals if k.startswith("form:")},
            "false_positive_rate": round(false_positives / len(negatives), 4),
            "texts_per_s": round((len(planted) + len(negatives)) / seconds),
        }
    result.update({"planted": len(planted), "negatives": len(negatives), "locales": list(LOCALES),
                   "phonenumbers": phonenumbers.__version__,
                   "what": "baseline = the shape patterns alone (phone_regions=()), as before; "
                           "after = patterns + national forms validated by phonenumbers"})
    return result


def main() -> None:
    """Run the measurement and write bench/results/pii_phones.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-form", type=int, default=200)
    args = parser.parse_args()
    result = measure(args.per_form)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
