"""Workspace settings, read from ``lightdom.toml`` at the workspace root.

Every key has a documented default (see ``DEFAULT_TOML``); a missing file or key
means the default. Unknown keys are an error naming the key, so typos surface.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

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

    preset: str = "tiny-cpu"
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
class Settings:
    """All settings of one workspace."""

    serving: ServingSettings = field(default_factory=ServingSettings)
    curation: CurationSettings = field(default_factory=CurationSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    continuous: ContinuousSettings = field(default_factory=ContinuousSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise LightdomError(f"{where}: unknown setting '{key}' (known: {', '.join(sorted(known))})")
        default = getattr(cls(), key)
        if is_dataclass(default):
            if not isinstance(value, dict):
                raise LightdomError(f"{where}: [{key}] must be a table")
            kwargs[key] = _build(type(default), value, f"{where} [{key}]")
            continue
        if isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, (int, float)) and not isinstance(value, (int, float))
        ) or (isinstance(default, (str, list)) and not isinstance(value, type(default))):
            raise LightdomError(
                f"{where}: '{key}' must be {type(default).__name__}, got {type(value).__name__}"
            )
        kwargs[key] = float(value) if isinstance(default, float) else value
    return cls(**kwargs)


def load_settings(root: Path) -> Settings:
    """Read ``lightdom.toml`` (defaults for anything missing); errors name the file and key."""
    path = root / SETTINGS_FILE
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LightdomError(f"{path}: not valid TOML: {exc}") from exc
    return _build(Settings, data, str(path))


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """Plain dict of all settings (for --json output and the TUI settings form)."""
    return asdict(settings)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_settings(settings: Settings) -> str:
    """Render settings as TOML, one table per section, with each section's docstring."""
    lines = ["# LightDom workspace settings. Every key shown is the value in force.", ""]
    for section in fields(settings):
        value = getattr(settings, section.name)
        doc = (type(value).__doc__ or "").strip().splitlines()[0]
        lines.append(f"# {doc}")
        lines.append(f"[{section.name}]")
        for item in fields(value):
            lines.append(f"{item.name} = {_toml_value(getattr(value, item.name))}")
        lines.append("")
    return "\n".join(lines)


def save_settings(root: Path, settings: Settings) -> Path:
    """Write settings atomically (temp file + rename)."""
    path = root / SETTINGS_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(render_settings(settings), encoding="utf-8")
    tmp.replace(path)
    return path


def update_setting(settings: Settings, dotted_key: str, raw_value: str) -> Settings:
    """Set ``section.key`` from text (as typed in the CLI or TUI), validated like the file."""
    section, _, key = dotted_key.partition(".")
    if not key or not hasattr(settings, section):
        raise LightdomError(f"setting '{dotted_key}': expected SECTION.KEY, e.g. serving.n_threads")
    try:
        value = tomllib.loads(f"v = {raw_value}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw_value  # bare words are strings
    data = settings_to_dict(settings)
    data[section][key] = value
    return _build(Settings, data, f"setting '{dotted_key}'")
