"""PII anonymisation: typed placeholders for emails, phones, cards, IPs, keys, URL credentials.

Applied before export and training (``settings.curation.anonymise``; kinds in
``settings.curation.pii_kinds``). Order matters: URL credentials and API keys are
replaced first so their parts are not half-matched as emails or phone numbers.
Credit cards must pass the Luhn check; IPv4 octets must be ≤ 255; IPv6 must parse.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDERS = {
    "url_credentials": "<URL_CREDENTIALS>",
    "api_key": "<API_KEY>",
    "email": "<EMAIL>",
    "credit_card": "<CREDIT_CARD>",
    "ipv6": "<IPV6>",
    "ipv4": "<IPV4>",
    "phone": "<PHONE>",
}
ALL_KINDS = tuple(PLACEHOLDERS)

_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>[^\s/@:<>\"']+:[^\s/@<>\"']*)@")
_API_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abpors]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
    r"|(?<=[Bb]earer )[A-Za-z0-9._~+/-]{20,}=*"
    r"|(?i:(?<=api[_-]key[=:] )|(?<=api[_-]key=)|(?<=token=)|(?<=secret=))[A-Za-z0-9._-]{16,}"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,8}){1,4}(?!\w)"
    r"|(?<![\w+])\+\d{8,14}(?!\w)"
)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", match.group(0))
    return PLACEHOLDERS["credit_card"] if 13 <= len(digits) <= 19 and luhn_ok(digits) else None


def _ipv6(match: re.Match[str]) -> str | None:
    text = match.group(0).split("%")[0]
    if text.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", text):
        return None
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return PLACEHOLDERS["ipv6"]


def _ipv4(match: re.Match[str]) -> str | None:
    parts = match.group(0).split(".")
    return PLACEHOLDERS["ipv4"] if all(int(p) <= 255 and (p == "0" or not p.startswith("0")) for p in parts) else None


def _phone(match: re.Match[str]) -> str | None:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15:
        return None
    if re.match(r"\d{4}-\d{2}-\d{2}(?!\d)", text) or re.fullmatch(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", text):
        return None  # dates (and a date followed by the hour)
    if re.fullmatch(r"\d+(?:\.\d+)+", text) and not text.startswith("+"):
        return None  # version numbers / decimals
    return PLACEHOLDERS["phone"]


_RULES: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]]] = [
    ("url_credentials", _URL_CREDENTIALS, lambda m: m.group("scheme") + PLACEHOLDERS["url_credentials"] + "@"),
    ("api_key", _API_KEY, lambda m: PLACEHOLDERS["api_key"]),
    ("email", _EMAIL, lambda m: PLACEHOLDERS["email"]),
    ("credit_card", _CARD, _card),
    ("ipv6", _IPV6, _ipv6),
    ("ipv4", _IPV4, _ipv4),
    ("phone", _PHONE, _phone),
]


@dataclass
class PiiReport:
    """How many values of each kind were replaced (and in how many examples)."""

    replaced: Counter = field(default_factory=Counter)
    examples_changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {"replaced": dict(sorted(self.replaced.items())), "examples_changed": self.examples_changed,
                "total": sum(self.replaced.values())}


def anonymise_text(text: str, kinds: tuple[str, ...] | list[str] = ALL_KINDS,
                   counts: Counter | None = None) -> str:
    """Replace PII of the given kinds with typed placeholders; counts per kind go to ``counts``."""
    for kind, pattern, replace in _RULES:
        if kind not in kinds:
            continue

        def substitute(match: re.Match[str], kind: str = kind, replace=replace) -> str:  # noqa: ANN001
            new = replace(match)
            if new is None:
                return match.group(0)
            if counts is not None:
                counts[kind] += 1
            return new

        text = pattern.sub(substitute, text)
    return text


def anonymise_messages(messages: list[dict[str, Any]], kinds: tuple[str, ...] | list[str] = ALL_KINDS,
                       report: PiiReport | None = None) -> list[dict[str, Any]]:
    """Anonymise every content string and tool-call argument string of a conversation (a copy)."""
    counts: Counter = Counter()
    out = []
    for message in messages:
        item = dict(message)
        if isinstance(item.get("content"), str):
            item["content"] = anonymise_text(item["content"], kinds, counts)
        if item.get("tool_calls"):
            calls = []
            for call in item["tool_calls"]:
                function = dict(call["function"])
                function["arguments"] = anonymise_text(function["arguments"], kinds, counts)
                calls.append({**call, "function": function})
            item["tool_calls"] = calls
        out.append(item)
    if report is not None and counts:
        report.replaced.update(counts)
        report.examples_changed += 1
    return out
