"""PII anonymisation: recall per kind on a synthetic corpus with planted values."""

from __future__ import annotations

import random
from collections import Counter

from lightdom_tui.curation.pii import PLACEHOLDERS, anonymise_messages, anonymise_text, luhn_ok

TEMPLATES = [
    "Please contact {v} about the order.",
    "Customer note: {v}. Follow up tomorrow.",
    "Log line 2024-05-01 10:30:00 value={v} status=200",
    "({v})",
    "Sent from {v}, price 19.99 EUR, version 1.2.3",
]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_ok(digits + check):
            return digits + check
    raise AssertionError


def planted(kind: str, rng: random.Random) -> str:
    """One random value of a kind, in the shapes people write them."""
    if kind == "email":
        user = rng.choice(["john.doe", "a_b", "sales+eu", "x1"]) + str(rng.randrange(1000))
        return f"{user}@{rng.choice(['example.com', 'mail.example.co.uk', 'corp-x.io'])}"
    if kind == "phone":
        return rng.choice([
            f"+1 415-555-{rng.randrange(1000, 9999)}",
            f"+44 20 7946 {rng.randrange(1000, 9999)}",
            f"(020) 7946 {rng.randrange(1000, 9999)}",
            f"+49 30 {rng.randrange(100000, 999999)}",
            f"555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
            f"+33{rng.randrange(100000000, 999999999)}",
        ])
    if kind == "credit_card":
        number = _luhn_complete(rng.choice(["4", "51", "37", "6011"]), rng.choice([16, 16, 15]), rng)
        if rng.random() < 0.5:
            return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
        return number
    if kind == "ipv4":
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    if kind == "ipv6":
        groups = [f"{rng.randrange(65536):x}" for _ in range(8)]
        if rng.random() < 0.5:
            return ":".join(groups)
        return ":".join(groups[:3]) + "::" + groups[7]
    if kind == "api_key":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        body = "".join(rng.choice(alphabet) for _ in range(40))
        return rng.choice([f"sk-{body}", f"ghp_{body[:36]}", f"AKIA{body.upper()[:16]}", f"hf_{body[:34]}",
                           f"xoxb-{body[:24]}"])
    if kind == "url_credentials":
        return f"https://{rng.choice(['admin', 'bob'])}:{rng.randrange(10**8)}pw@db{rng.randrange(99)}.example.com/path"
    raise KeyError(kind)


def test_recall_per_kind_on_planted_corpus() -> None:
    rng = random.Random(42)
    per_kind = 300
    found: Counter = Counter()
    report: dict[str, float] = {}
    for kind in PLACEHOLDERS:
        for _ in range(per_kind):
            value = planted(kind, rng)
            text = rng.choice(TEMPLATES).format(v=value)
            counts: Counter = Counter()
            out = anonymise_text(text, counts=counts)
            secret = value.split("@")[0].split("//")[-1] if kind == "url_credentials" else value
            if secret not in out and PLACEHOLDERS[kind] in out:
                found[kind] += 1
        report[kind] = found[kind] / per_kind
    print("PII recall per kind:", {k: round(v, 3) for k, v in report.items()})
    for kind, recall in report.items():
        assert recall >= 0.98, (kind, recall)


def test_no_false_positives_on_ordinary_numbers() -> None:
    text = ("Price 19.99 EUR, SKU 12345, version 1.2.3, date 2024-05-01 at 10:30:00, order #4111111111111112, "
            "rating 4.5/5, 3 items, year 2026")
    assert anonymise_text(text) == text


def test_messages_and_tool_arguments_are_covered_with_report() -> None:
    from lightdom_tui.curation.pii import PiiReport

    report = PiiReport()
    messages = [
        {"role": "user", "content": "mail jane@example.com"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "send", "arguments": '{"to": "jane@example.com", "ip": "10.0.0.1"}'}}]},
    ]
    out = anonymise_messages(messages, report=report)
    assert out[0]["content"] == "mail <EMAIL>"
    assert out[1]["tool_calls"][0]["function"]["arguments"] == '{"to": "<EMAIL>", "ip": "<IPV4>"}'
    assert messages[0]["content"] == "mail jane@example.com"  # the input is not modified
    assert report.to_dict() == {"replaced": {"email": 2, "ipv4": 1}, "examples_changed": 1, "total": 3}
    assert anonymise_messages(messages, kinds=["ipv4"])[0]["content"] == "mail jane@example.com"
