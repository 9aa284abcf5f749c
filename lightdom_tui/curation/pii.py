"""PII anonymisation: typed placeholders for emails, phones, cards, IPs, keys, URL credentials.

Applied before export and training (``settings.curation.anonymise``; kinds in
``settings.curation.pii_kinds``). Order matters: URL credentials and API keys are
replaced first so their parts are not half-matched as emails or phone numbers.
Credit cards must pass the Luhn check; IPv4 octets must be ≤ 255; IPv6 must parse.

Phone numbers: written with separators or a leading ``+`` they are recognised by shape;
written without separators in a national format (``0415806975``, ``(0121)4960448``,
``4155550123``) they must be a valid number of one of ``PHONE_REGIONS`` according to
``phonenumbers`` (Google's libphonenumber metadata), so order numbers and dates stay.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

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

# phone-number candidates for libphonenumber: digit groups with optional separators, a leading
# "+" or a bracketed area code; not glued to a word, an id ("INV-", "#") or a path
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+#/.-])(?:\+\d{1,3}[ .-]?)?(?:\(0?\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?\d{1,8}){0,5}(?![\w-])"
)
_NANP = ("US", "CA")
PHONE_REGIONS = ("US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "ES", "IT", "AU", "NZ", "IN")


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


def _phone(match: re.Match[str] | str) -> str | None:
    text = match if isinstance(match, str) else match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15:
        return None
    if re.match(r"\d{4}-\d{2}-\d{2}(?!\d)", text) or re.fullmatch(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", text):
        return None  # dates (and a date followed by the hour)
    if re.fullmatch(r"\d+(?:\.\d+)+", text) and not text.startswith("+"):
        return None  # version numbers / decimals
    return PLACEHOLDERS["phone"]


@functools.lru_cache(maxsize=4096)  # the same numbers recur across a dataset (signatures, hotlines)
def _phone_length(text: str, regions: tuple[str, ...]) -> int:
    """Length of the valid phone number ``text`` is (0: none) in one of ``regions``.

    libphonenumber's matcher also checks how the digits are grouped, so an id like
    ``200582-9514`` is not taken for a US number although its digits would be valid.
    Without a "+", a bracket or a trunk "0" only the North American plan is tried: in
    countries without a trunk prefix (IT, ES, IN mobiles) too many ids are valid numbers.
    """
    if text.startswith("+"):
        regions = ("ZZ",)
    elif text[0].isdigit() and text[0] != "0":
        regions = tuple(region for region in regions if region in _NANP)
    for region in regions:
        try:  # cheap check first; the matcher (grouping rules) only where the digits are valid
            if not phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                continue
        except phonenumbers.NumberParseException:
            continue
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING):
            if match.start == 0:
                return match.end
    return 0


def _plausible_phone(text: str) -> bool:
    """Cheap guards before asking libphonenumber: length, dates, versions, bare ids."""
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _phone(text) is None:
        return False
    if text.isdigit():  # no separators: only trunk-prefixed national forms or ten NANP digits
        return text.startswith("0") or (digits == 10 and text[0] in "23456789")
    return True


def _library_phone(match: re.Match[str], regions: tuple[str, ...] = PHONE_REGIONS) -> str | None:
    """A placeholder for a candidate that is a valid phone number (grouped as numbers are written)."""
    text = match.group(0)
    if not _plausible_phone(text):
        return None
    end = _phone_length(text, regions)
    return PLACEHOLDERS["phone"] + text[end:] if end else None


_RULES: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]]] = [
    ("url_credentials", _URL_CREDENTIALS, lambda m: m.group("scheme") + PLACEHOLDERS["url_credentials"] + "@"),
    ("api_key", _API_KEY, lambda m: PLACEHOLDERS["api_key"]),
    ("email", _EMAIL, lambda m: PLACEHOLDERS["email"]),
    ("credit_card", _CARD, _card),
    ("ipv6", _IPV6, _ipv6),
    ("ipv4", _IPV4, _ipv4),
    ("phone", _PHONE_CANDIDATE, _library_phone),  # first: it knows where a number ends
    ("phone", _PHONE, _phone),  # then numbers of the right shape that libphonenumber calls invalid
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
                   counts: Counter | None = None, phone_regions: tuple[str, ...] = PHONE_REGIONS) -> str:
    """Replace PII of the given kinds with typed placeholders; counts per kind go to ``counts``.

    ``phone_regions`` are the countries whose national phone formats are recognised
    without separators (empty: only numbers written with separators or ``+``).
    """
    for kind, pattern, replace in _RULES:
        if kind not in kinds:
            continue
        if pattern is _PHONE_CANDIDATE:
            if not phone_regions:
                continue
            if phone_regions != PHONE_REGIONS:
                replace = lambda m, regions=phone_regions: _library_phone(m, regions)  # noqa: E731

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
