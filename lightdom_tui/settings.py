"""Workspace settings, read from ``lightdom.toml`` at the workspace root.

Every key has a documented default (see ``DEFAULT_TOML``); a missing file or key
means the default. Unknown keys are an error naming the key, so typos surface.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

from lightdom_tui.errors import LightdomError

SETTINGS_FILE = "lightdom.toml"


@dataclass
class ServingSettings:
    """Local llama.cpp engine and the optional remote OpenAI-compatible API."""

    n_threads: int = 0  # 0 = number of CPU cores
    n_ctx: int = 2048
    n_batch: int = 512
    max_tokens: int = 384
    temperature: float = 0.0
    cache: bool = True  # response cache for temperature 0
    fallback: bool = True  # use the remote API when no local model serves or it fails
    remote_provider: str = "deepseek"  # keyring entry name
    remote_base_url: str = "https://api.deepseek.com/v1"
    remote_model: str = "deepseek-chat"
    remote_timeout_s: float = 30.0
    remote_retries: int = 2
    api_key_env: str = "DEEPSEEK_API_KEY"
    port: int = 8765
    n_gpu_layers: int = -1  # layers offloaded to the GPU; -1 = all (ignored by a CPU-only llama.cpp)
    parallel: int = 4  # requests decoded together per loaded model (one llama.cpp batch); each holds n_ctx of KV cache
    local_timeout_s: float = 120.0  # gateway: a local answer slower than this falls back to the remote API
    log_sample_rate: float = 0.1  # gateway: share of calls copied (PII-scrubbed) into curation as pending
    remote_routes: list[str] = field(default_factory=list)  # gateway: "NAME=URL[#MODEL]" models served remotely
    # gateway: "ROUTE=RATE" per route (the request's model: task:TYPE, version, alias, remote route); others log_sample_rate
    log_sample_routes: list[str] = field(default_factory=list)


@dataclass
class CurationSettings:
    """Ingest, scoring, anonymisation and retention."""

    anonymise: bool = True
    pii_kinds: list[str] = field(
        default_factory=lambda: ["email", "phone", "credit_card", "ipv4", "ipv6", "api_key", "url_credentials"]
    )
    near_duplicate_threshold: float = 0.85  # MinHash Jaccard estimate
    context_tokens: int = 2048  # the base model's context, for the quality rubric
    retention_days: int = 30
    batch_size: int = 2000


@dataclass
class TrainingSettings:
    """Defaults for ``lightdom train``."""

    preset: str = "auto"  # the default recipe of the dataset's task type (training/recipe.py)
    method: str = "qlora"
    base: str = "smollm2-135m-instruct"


@dataclass
class MonitoringSettings:
    """Alert thresholds over a rolling window of requests per deployment."""

    window: int = 100
    error_rate: float = 0.05
    latency_ms: float = 2000.0
    confidence_drop: float = 0.1
    rejection_rate: float = 0.20
    auto_rollback: bool = False
    # The router checks the thresholds about every Nth logged request (a deployment's request
    # whose log id is a multiple of N); the scheduler checks on each tick; 0 = only
    # `lightdom monitor check` and the scheduler.
    check_every: int = 10


@dataclass
class DeploySettings:
    """Staged deployment order and health-check budget."""

    stages: list[str] = field(default_factory=lambda: ["low", "medium", "high"])
    health_latency_ms: float = 10000.0
    canary_topics: list[str] = field(default_factory=lambda: ["blog post", "product page"])


@dataclass
class ContinuousSettings:
    """When to propose (or start, with ``auto``) a new training round."""

    min_new_approved: int = 50
    min_acceptance_rate: float = 0.7
    auto: bool = False


@dataclass
class TuiSettings:
    """Look of the terminal app."""

    theme: str = "textual-dark"
    page_size: int = 200


@dataclass
class OrchestrationSettings:
    """What workflows may reach beyond the workspace (nothing unless listed here)."""

    # folders file services may read and jsonl destinations may write, besides the workspace
    allowed_paths: list[str] = field(default_factory=list)
    # private, loopback or link-local networks fetches may reach (CIDR, e.g. "127.0.0.0/8")
    allowed_networks: list[str] = field(default_factory=list)


@dataclass
class Settings:
    """All settings of one workspace."""

    serving: ServingSettings = field(default_factory=ServingSettings)
    curation: CurationSettings = field(default_factory=CurationSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    continuous: ContinuousSettings = field(default_factory=ContinuousSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)
    orchestration: OrchestrationSettings = field(default_factory=OrchestrationSettings)
    # TUI keys by binding id, e.g. "curation.approve" = "y" (F1 in the TUI lists the ids); as Posting's keymap
    keymap: dict[str, str] = field(default_factory=dict)


# Allowed values by "section.key" (inclusive). Every other key is still checked: its type,
# a finite float, an int SQLite can hold, text without control characters.
RANGES: dict[str, tuple[float, float]] = {
    "serving.n_threads": (0, 1024),
    "serving.n_ctx": (16, 1 << 24),
    "serving.n_batch": (1, 1 << 24),
    "serving.max_tokens": (1, 1 << 24),
    "serving.temperature": (0.0, 2.0),
    "serving.remote_timeout_s": (0.1, 86_400.0),
    "serving.remote_retries": (0, 20),
    "serving.port": (1, 65535),
    "serving.n_gpu_layers": (-1, 100_000),
    "serving.parallel": (1, 1024),
    "serving.local_timeout_s": (0.1, 86_400.0),
    "serving.log_sample_rate": (0.0, 1.0),
    "curation.near_duplicate_threshold": (0.0, 1.0),
    "curation.context_tokens": (16, 1 << 24),
    "curation.retention_days": (0, 100_000),
    "curation.batch_size": (1, 1_000_000),
    "monitoring.window": (1, 10_000_000),
    "monitoring.error_rate": (0.0, 1.0),
    "monitoring.latency_ms": (0.0, 86_400_000.0),
    "monitoring.confidence_drop": (0.0, 1.0),
    "monitoring.rejection_rate": (0.0, 1.0),
    "monitoring.check_every": (0, 10_000_000),
    "deploy.health_latency_ms": (0.0, 86_400_000.0),
    "continuous.min_new_approved": (0, 1_000_000_000),
    "continuous.min_acceptance_rate": (0.0, 1.0),
    "tui.page_size": (1, 100_000),
}
PATTERNS: dict[str, tuple[str, str]] = {
    "serving.remote_base_url": (r"https?://[^\s/]+\S*", "an http:// or https:// URL"),
    "serving.api_key_env": (r"[A-Za-z_][A-Za-z0-9_]{0,127}", "an environment variable name"),
}


def _absolute_folder(item: str) -> str | None:
    # as orchestration.policy reads it: the workspace is always allowed, so only folders outside it are listed
    return None if Path(item).expanduser().is_absolute() else "is not an absolute folder such as /data"


def parse_route_rate(item: str) -> tuple[str, float]:
    """``(route, rate)`` of a ``serving.log_sample_routes`` entry ``ROUTE=RATE``, or ValueError saying why not."""
    route, _, text = item.rpartition("=")
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not route.strip() or not 0.0 <= rate <= 1.0:
        raise ValueError("is not ROUTE=RATE with RATE from 0 to 1, e.g. task:attribute_generation=0.5")
    return route.strip(), rate


def _route_rate(item: str) -> str | None:
    try:
        parse_route_rate(item)
    except ValueError as exc:
        return str(exc)
    return None


def _network(item: str) -> str | None:
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        return "is not a network such as 127.0.0.0/8 or ::1/128"
    return None


# Each item of these lists is checked too: (problem or None) for one item.
ITEM_CHECKS: dict[str, Callable[[str], str | None]] = {
    "orchestration.allowed_paths": _absolute_folder,
    "orchestration.allowed_networks": _network,
    "serving.log_sample_routes": _route_rate,
}
INT64 = (-(2**63), 2**63 - 1)
MAX_TEXT = 4096
MAX_ITEMS = 1000
MAX_FILE_BYTES = 1 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SECTION_LINE = re.compile(r"\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?")


def _number(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else f"{value:g}"


def _text_problem(text: str) -> str | None:
    if _CONTROL.search(text):
        return "text must not contain control characters (newline, tab, escape …)"
    if len(text) > MAX_TEXT:
        return f"text longer than {MAX_TEXT} characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode"
    return None


def _checked(dotted: str, default: Any, value: Any) -> Any:
    """``value`` for the setting ``dotted`` (whose default is ``default``), or ValueError saying why not."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"must be bool, got {type(value).__name__}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be int, got {type(value).__name__}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be float, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
    elif isinstance(default, (str, list)) and not isinstance(value, type(default)):
        raise ValueError(f"must be {type(default).__name__}, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        low, high = RANGES.get(dotted, INT64 if isinstance(value, int) else (-math.inf, math.inf))
        if not low <= value <= high:
            raise ValueError(f"{value!r} is out of range: allowed {_number(low)} … {_number(high)}")
    elif isinstance(value, str):
        problem = _text_problem(value)
        if problem is None and dotted in PATTERNS and not re.fullmatch(PATTERNS[dotted][0], value):
            problem = f"{value!r} is not {PATTERNS[dotted][1]}"
        if problem:
            raise ValueError(problem)
    elif isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise ValueError(f"more than {MAX_ITEMS} items")
        for item in value:
            if not isinstance(item, str) or _text_problem(item):
                raise ValueError(f"items must be text without control characters, got {item!r:.60}")
            problem = ITEM_CHECKS[dotted](item) if dotted in ITEM_CHECKS else None
            if problem:
                raise ValueError(f"{item!r:.60} {problem}")
    return value


def _checked_map(dotted: str, value: Any) -> dict[str, str]:
    """A table of text → text (the keymap), or ValueError saying why not."""
    if not isinstance(value, dict):
        raise ValueError(f"[{dotted}] must be a table")
    if len(value) > MAX_ITEMS:
        raise ValueError(f"[{dotted}] has more than {MAX_ITEMS} entries")
    for key, item in value.items():
        problem = _text_problem(key) or (_text_problem(item) if isinstance(item, str) else "must be text")
        if problem:
            raise ValueError(f"[{dotted}] {key[:60]!r}: {problem}")
    return dict(value)


def _build(cls: type, data: dict[str, Any], where: str, problems: list[str] | None = None,
           prefix: str = "") -> Any:
    """``cls`` from a parsed table; an invalid key raises, or (with ``problems``) is noted and left default."""
    known = {f.name: f for f in fields(cls)}
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        try:
            if key not in known:
                raise ValueError(f"unknown setting {key[:60]!r} (known: {', '.join(sorted(known))})")
            default = getattr(defaults, key)
            if isinstance(default, dict):
                kwargs[key] = _checked_map(dotted, value)
                continue
            if is_dataclass(default):
                if not isinstance(value, dict):
                    raise ValueError(f"[{key}] must be a table")
                kwargs[key] = _build(type(default), value, where, problems, f"{key}.")
                continue
            kwargs[key] = _checked(dotted, default, value)
        except ValueError as exc:
            message = str(exc) if key not in known or is_dataclass(getattr(defaults, key)) else f"'{key}' {exc}"
            message = f"{where}: {prefix and f'[{prefix[:-1]}] '}{message}"
            if problems is None:
                raise LightdomError(message) from None
            problems.append(message)
    return cls(**kwargs)


@dataclass
class SettingsRead:
    """Settings as read from a file, with what was wrong in it (each wrong key left at its default)."""

    settings: Settings
    problems: list[str] = field(default_factory=list)


def _salvage(text: str) -> dict[str, Any]:
    """The keys of a file that is not valid TOML, line by line (the layout ``render_settings`` writes)."""
    data: dict[str, Any] = {}
    table = data
    for line in text.splitlines():
        header = _SECTION_LINE.fullmatch(line)
        if header:
            if not isinstance(data.get(header.group(1)), dict):
                data[header.group(1)] = {}
            table = data[header.group(1)]
            continue
        try:
            table.update(tomllib.loads(line))
        except (tomllib.TOMLDecodeError, RecursionError, ValueError):
            continue
    return data


def read_settings(root: Path) -> SettingsRead:
    """Read ``lightdom.toml`` leniently: whatever is valid is kept, each problem is described.

    ``doctor`` and ``settings set`` use this, so a broken file can still be inspected and repaired.
    """
    path = root / SETTINGS_FILE
    if not path.exists():
        return SettingsRead(Settings())
    problems: list[str] = []
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return SettingsRead(Settings(), [f"{path}: cannot read: {exc.strerror or exc}"])
    if len(raw) > MAX_FILE_BYTES:
        return SettingsRead(Settings(), [f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; not a settings file"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text (byte {exc.start}); unreadable characters replaced")
        text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, tomllib.TOMLDecodeError) else "nested too deeply"
        problems.append(f"{path}: not valid TOML: {reason}")
        data = _salvage(text.replace("\ufffd", ""))
    return SettingsRead(_build(Settings, data, str(path), problems), problems)


def load_settings(root: Path) -> Settings:
    """Read ``lightdom.toml`` (defaults for anything missing); errors name the file and key."""
    read = read_settings(root)
    if read.problems:
        more = f" (and {len(read.problems) - 1} more)" if len(read.problems) > 1 else ""
        raise LightdomError(
            f"{read.problems[0]}{more}: fix the file, or `lightdom settings set SECTION.KEY VALUE` "
            "rewrites it (`lightdom doctor` lists every problem)"
        )
    return read.settings


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """Plain dict of all settings (for --json output and the TUI settings form)."""
    return asdict(settings)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def render_settings(settings: Settings) -> str:
    """Render settings as TOML, one table per section, with each section's docstring."""
    lines = ["# LightDom workspace settings. Every key shown is the value in force.", ""]
    for section in fields(settings):
        value = getattr(settings, section.name)
        if isinstance(value, dict):  # the keymap: quoted keys, ids hold dots
            lines.append("# TUI keys by binding id (F1 in the TUI lists them), e.g. \"curation.approve\" = \"y\"")
            lines.append(f"[{section.name}]")
            lines.extend(f"{_toml_string(key)} = {_toml_string(item)}" for key, item in value.items())
            lines.append("")
            continue
        doc = (type(value).__doc__ or "").strip().splitlines()[0]
        lines.append(f"# {doc}")
        lines.append(f"[{section.name}]")
        for item in fields(value):
            lines.append(f"{item.name} = {_toml_value(getattr(value, item.name))}")
        lines.append("")
    return "\n".join(lines)


def save_settings(root: Path, settings: Settings) -> Path:
    """Validate, then write atomically (a unique temp file, fsync, rename): the file is always valid."""
    path = root / SETTINGS_FILE
    text = render_settings(settings)
    _build(Settings, tomllib.loads(text), "settings to save")  # what is written must read back
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise LightdomError(f"{path}: cannot write: {exc.strerror or exc} (is the workspace read-only?)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def split_key(dotted_key: str) -> tuple[str, str]:
    """``(section, key)`` of a known setting ``section.key``; anything else is a clear error."""
    section, _, key = dotted_key.partition(".")
    sections = {f.name: f for f in fields(Settings)}
    shown = repr(dotted_key[:80])
    if section not in sections or not key:
        raise LightdomError(f"setting {shown}: expected SECTION.KEY, e.g. serving.n_threads "
                            f"(sections: {', '.join(sections)})")
    default = getattr(Settings(), section)
    if isinstance(default, dict):  # the keymap: any binding id
        return section, key
    keys = [f.name for f in fields(default)]
    if key not in keys:
        raise LightdomError(f"setting {shown}: unknown setting {key[:40]!r} (keys of [{section}]: {', '.join(keys)})")
    return section, key


def allowed(dotted_key: str) -> str:
    """The allowed values of a setting, in words (for errors and the TUI)."""
    if dotted_key in RANGES:
        low, high = RANGES[dotted_key]
        return f"{_number(low)} … {_number(high)}"
    return PATTERNS[dotted_key][1] if dotted_key in PATTERNS else "see `lightdom settings show`"


def update_setting(settings: Settings, dotted_key: str, raw_value: str) -> Settings:
    """Set ``section.key`` from text (as typed in the CLI or TUI), validated like the file."""
    section, key = split_key(dotted_key)
    value: Any = raw_value
    if not _CONTROL.search(raw_value):  # a newline would let one value smuggle in more keys
        try:
            value = tomllib.loads(f"v = {raw_value}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError):
            value = raw_value  # bare words are strings
    data = settings_to_dict(settings)
    data[section][key] = value
    try:
        return _build(Settings, data, f"setting '{dotted_key}'")
    except LightdomError as exc:
        known = dotted_key in RANGES or dotted_key in PATTERNS
        hint = f" (allowed: {allowed(dotted_key)})" if known and "allowed" not in str(exc) else ""
        raise LightdomError(f"{exc}{hint}") from None
