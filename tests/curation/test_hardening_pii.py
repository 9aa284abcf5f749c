"""Issue 18, curation checks: phone numbers in national formats without separators, five locales.

Numbers are drawn at random among those libphonenumber calls valid and written the ways
people write them; the same planted set is run with the shape patterns alone
(``phone_regions=()``, what anonymisation did before) to show what the library adds.
bench/pii_phones.py runs the same measurement at a larger size.
"""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from lightdom_tui.curation.pii import PLACEHOLDERS, anonymise_text

LOCALES = ("US", "GB", "DE", "FR", "AU")


def _number(region: str, rng: random.Random) -> phonenumbers.PhoneNumber:
    example = phonenumbers.example_number_for_type(region, rng.choice((PhoneNumberType.FIXED_LINE,
                                                                        PhoneNumberType.MOBILE)))
    national = str(example.national_number)
    while True:
        digits = national[:2] + "".join(str(rng.randrange(10)) for _ in national[2:])
        number = phonenumbers.parse(f"+{example.country_code}{digits}")
        if phonenumbers.is_valid_number(number):
            return number


def _written(number: phonenumbers.PhoneNumber) -> list[str]:
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    area, _, rest = national[1:].partition(")") if national.startswith("(") else national.partition(" ")
    return [phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL), national, digits,
            f"({area}){''.join(c for c in rest if c.isdigit())}"]


def _recall(texts: list[tuple[str, str]], **kwargs: object) -> float:
    found = 0
    for value, text in texts:
        out = anonymise_text(text, ["phone"], **kwargs)
        found += value not in out and PLACEHOLDERS["phone"] in out
    return found / len(texts)


def test_the_reported_national_forms_are_recognised() -> None:
    assert anonymise_text("call 0415806975 today") == "call <PHONE> today"
    assert anonymise_text("office (0121)4960448.") == "office <PHONE>."
    assert anonymise_text("US 4155550123 or +1 415 555 0123") == "US <PHONE> or <PHONE>"


def test_phone_recall_over_five_locales_beats_the_patterns_alone() -> None:
    rng = random.Random(18)
    texts = []
    for region in LOCALES:
        for _ in range(15):
            for value in _written(_number(region, rng)):
                texts.append((value, rng.choice(["Please call {v} now.", "Tel.: {v}", "Contact ({v}) before 5pm."])
                              .format(v=value)))
    before = _recall(texts, phone_regions=())
    after = _recall(texts)
    print(f"phone recall over {LOCALES}: patterns alone {before:.3f}, with phonenumbers {after:.3f}")
    assert after >= 0.98 and after > before + 0.2


def test_ordinary_numbers_are_not_taken_for_phones() -> None:
    text = ("Order #20240501 shipped 2024-05-01 10:30:00, invoice INV-9272036547, SKU 200582-9514, "
            "ISBN 9780306406157, ts 1700000000, version 10.2.3, price 1249.99 EUR, 3 items, year 2026, "
            "ticket 12345678, between 1234 and 5678")
    assert anonymise_text(text, ["phone"]) == text
