"""SQLModel tables for the whole data model (see DESIGN.md, "Data model").

Conventions:
- JSON payloads are stored as TEXT columns named ``*_json``; the helpers
  ``dumps``/``loads`` in :mod:`lightdom_tui.db.jsoncol` keep them canonical.
- Timestamps are timezone-aware UTC (``utcnow()``); SQLModel stores them as UTC.
- Status and kind values are plain strings; the allowed values are listed in the
  ``*_VALUES`` tuples next to each table so services can validate input.
- Changing a table means a new Alembic migration in ``db/migrations/versions``;
  ``tests/unit/test_migrations.py`` fails when models and migrations disagree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- curation

EXAMPLE_STATUS_VALUES = ("pending", "approved", "rejected")


class Example(SQLModel, table=True):
    """One training example in canonical chat form (OpenAI-style messages)."""

    __table_args__ = (
        Index("ix_example_status_task", "status", "task_type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    source: str = Field(default="manual", index=True)
    task_type: str = Field(default="general", index=True)
    status: str = Field(default="pending", index=True)
    messages_json: str  # canonical list of messages incl. tool_calls / tool messages
    content_hash: str = Field(unique=True)  # exact-dedup key over the normalised conversation
    near_hash: str | None = Field(default=None, index=True)  # whitespace/case-normalised key
    near_duplicate_of: int | None = Field(default=None, foreign_key="example.id")
    parent_id: int | None = Field(default=None, foreign_key="example.id", index=True)  # corrections
    quality_score: float | None = Field(default=None, index=True)
    confidence: float | None = None
    token_count: int | None = None
    reject_reason: str | None = None
    metadata_json: str = "{}"  # topic, domain, tags, model, latency_ms, cost, decision, generated …


class CurationEvent(SQLModel, table=True):
    """History of curation actions; one batch per user action, so undo can revert it."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    batch_id: str = Field(index=True)
    example_id: int = Field(foreign_key="example.id", index=True, ondelete="CASCADE")
    action: str  # approve / reject / edit / rule / undo
    from_status: str
    to_status: str
    reason: str | None = None
    undone: bool = False


class Quarantine(SQLModel, table=True):
    """A line that could not be imported, kept verbatim with the reason."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    file: str = Field(index=True)
    line: int
    raw: str
    reason: str


class IngestFile(SQLModel, table=True):
    """Progress of one ingested file, so a killed ingest resumes without loss or duplicates."""

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(index=True)
    sha256: str = Field(unique=True)
    size_bytes: int = 0
    lines_done: int = 0
    status: str = "running"  # running / done
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class Dataset(SQLModel, table=True):
    """An immutable dataset version: a frozen selection of examples with its split."""

    __table_args__ = (UniqueConstraint("name", "version", name="uq_dataset_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    rules_json: str = "{}"  # the selection rules used
    manifest_hash: str  # sha256 over (example id, content hash) pairs in order
    seed: int = 0
    split_ratio: float = 0.8
    n_train: int = 0
    n_validation: int = 0
    prompts_json: str = "{}"  # per task type: {"system": ..., "user_template": ...}


DATASET_SPLIT_VALUES = ("train", "validation")


class DatasetItem(SQLModel, table=True):
    """Membership of one example in a dataset version, with its split."""

    __table_args__ = (UniqueConstraint("dataset_id", "example_id", name="uq_dataset_item"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    example_id: int = Field(foreign_key="example.id", index=True)
    split: str = "train"


# --------------------------------------------------------------------------- training

RUN_STATUS_VALUES = ("queued", "running", "completed", "failed", "cancelled")


class TrainingRun(SQLModel, table=True):
    """One fine-tuning run and everything needed to reproduce or resume it."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = Field(default="queued", index=True)
    dataset_id: int | None = Field(default=None, foreign_key="dataset.id")
    base_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    adapter_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    method: str = "qlora"  # qlora / lora / full
    preset: str | None = None
    config_json: str = "{}"
    seed: int = 0
    library_versions_json: str = "{}"
    output_dir: str | None = None
    last_checkpoint: str | None = None
    total_steps: int | None = None
    pid: int | None = None
    cancel_requested: bool = False
    error: str | None = None


class RunMetric(SQLModel, table=True):
    """Metrics of one optimiser step (eval columns filled on eval steps)."""

    __table_args__ = (UniqueConstraint("run_id", "step", name="uq_runmetric_step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="trainingrun.id", index=True, ondelete="CASCADE")
    step: int
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    perplexity: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_sec: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- registry

MODEL_KIND_VALUES = ("base", "adapter", "merged", "gguf")
MODEL_FORMAT_VALUES = ("hf", "gguf", "peft")


class ModelVersion(SQLModel, table=True):
    """A registered model artifact; the registry never points at a missing file."""

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(unique=True)  # human name, e.g. "smollm2-135m-instruct"
    kind: str = Field(index=True)  # base / adapter / merged / gguf
    format: str  # hf / gguf / peft
    path: str
    sha256: str | None = None
    size_bytes: int | None = None
    architecture: str | None = None  # llama / qwen2 …
    quant: str | None = None  # f16 / q8_0 / q4_k_m …
    parent_id: int | None = Field(default=None, foreign_key="modelversion.id")
    run_id: int | None = Field(default=None, foreign_key="trainingrun.id")
    dataset_id: int | None = Field(default=None, foreign_key="dataset.id")
    metrics_json: str = "{}"
    verification_json: str = "{}"
    prompts_json: str = "{}"  # per task type system prompt / user template it was trained with
    notes: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Alias(SQLModel, table=True):
    """Current holder of an alias such as ``production``."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    version_id: int = Field(foreign_key="modelversion.id")
    updated_at: datetime = Field(default_factory=utcnow)


class AliasEvent(SQLModel, table=True):
    """Full history of alias moves (MLflow keeps none; we do)."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    alias: str = Field(index=True)
    version_id: int = Field(foreign_key="modelversion.id")
    previous_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    action: str  # promote / rollback / ab_promote
    reason: str | None = None


class Evaluation(SQLModel, table=True):
    """Stored result of one evaluation of a model version."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    version_id: int = Field(foreign_key="modelversion.id", index=True)
    dataset_id: int | None = Field(default=None, foreign_key="dataset.id")
    references_file: str | None = None
    task_type: str = "attribute_generation"
    n: int = 0
    metrics_json: str = "{}"


class ABTest(SQLModel, table=True):
    """An A/B test between two model versions for some task types."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    version_a_id: int = Field(foreign_key="modelversion.id")
    version_b_id: int = Field(foreign_key="modelversion.id")
    split: float = 0.5  # share of traffic for arm b
    task_types_json: str = "[]"  # empty = all task types
    status: str = Field(default="running", index=True)  # running / ended
    alias: str | None = None  # alias moved by `ab promote`
    winner_version_id: int | None = Field(default=None, foreign_key="modelversion.id")


class ABOutcome(SQLModel, table=True):
    """One observed outcome for one arm of an A/B test."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    ab_test_id: int = Field(foreign_key="abtest.id", index=True, ondelete="CASCADE")
    arm: str  # a / b
    request_key: str | None = None
    signal: str  # accept / reject / validity / latency / external
    success: bool
    latency_ms: float | None = None


DEPLOYMENT_STATUS_VALUES = ("active", "superseded", "rolled_back", "failed")


class Deployment(SQLModel, table=True):
    """Which version serves a task type; history kept by status."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    task_type: str = Field(index=True)  # "*" = every task type without its own deployment
    version_id: int = Field(foreign_key="modelversion.id")
    stage: str = "low"
    status: str = Field(default="active", index=True)
    previous_deployment_id: int | None = Field(default=None, foreign_key="deployment.id")
    health_json: str = "{}"
    auto_rollback: bool = False


class RequestLog(SQLModel, table=True):
    """Every routed request: engine, version, latency, tokens (monitoring reads these)."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    task_type: str = Field(default="attribute_generation", index=True)
    engine: str  # local / remote / cache
    version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    model_name: str | None = None
    deployment_id: int | None = Field(default=None, foreign_key="deployment.id")
    ab_test_id: int | None = Field(default=None, foreign_key="abtest.id")
    arm: str | None = None
    request_key: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    success: bool = True
    fallback: bool = False
    cached: bool = False
    confidence: float | None = None
    error: str | None = None


class GatewayCall(SQLModel, table=True):
    """A gateway call's conversation, kept so a verdict on it (``POST /v1/feedback``) works at any later time.

    The facts of the call (version, arm, latency, tokens) are its ``RequestLog`` row.
    """

    call_id: str = Field(primary_key=True)  # the ``chatcmpl-…`` id the client got
    request_log_id: int = Field(foreign_key="requestlog.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    model: str  # the name the client asked for (a version, alias, task route or remote route)
    messages_json: str
    answer_json: str | None = None  # the assistant message; None when the call failed
    example_id: int | None = None  # its curation example once it has one (no FK: examples may be deleted)


class ResponseCache(SQLModel, table=True):
    """Cached responses keyed on (model version, messages, params)."""

    key: str = Field(primary_key=True)
    version: str
    response_json: str
    created_at: datetime = Field(default_factory=utcnow)


class Alert(SQLModel, table=True):
    """A monitoring threshold breach."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    deployment_id: int | None = Field(default=None, foreign_key="deployment.id")
    metric: str
    value: float
    threshold: float
    message: str
    acknowledged: bool = False
    action: str | None = None  # e.g. "auto_rollback"


# --------------------------------------------------------------------------- campaign tree

CAMPAIGN_STATUS_VALUES = ("draft", "active", "paused", "done")
SERVICE_TYPE_VALUES = ("http", "html", "file", "llm")
ATTRIBUTE_TYPE_VALUES = ("string", "number", "boolean", "array", "object", "date")


class Campaign(SQLModel, table=True):
    """Top of the campaign tree."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    description: str = ""
    status: str = "draft"
    start_date: datetime | None = None
    end_date: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Workflow(SQLModel, table=True):
    """A unit of execution inside a campaign, with its trigger."""

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True, ondelete="CASCADE")
    name: str
    trigger: str = "manual"  # manual / schedule / webhook / file
    trigger_config_json: str = "{}"  # cron + timezone, watched path, webhook token hash …
    status: str = "draft"
    concurrency: int = 4
    created_at: datetime = Field(default_factory=utcnow)


class Service(SQLModel, table=True):
    """A source a workflow fetches from (http / html / file / llm)."""

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflow.id", index=True, ondelete="CASCADE")
    name: str
    type: str = "html"
    config_json: str = "{}"


class DataStream(SQLModel, table=True):
    """Where a service's data goes and how it is transformed on the way."""

    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="service.id", index=True, ondelete="CASCADE")
    name: str
    source: str = ""
    destination: str = ""  # "sqlite:TABLE" or "jsonl:PATH"
    transformations_json: str = "[]"


class Attribute(SQLModel, table=True):
    """One field extracted into a data stream."""

    __table_args__ = (UniqueConstraint("datastream_id", "name", name="uq_attribute_name"),)

    id: int | None = Field(default=None, primary_key=True)
    datastream_id: int = Field(foreign_key="datastream.id", index=True, ondelete="CASCADE")
    name: str
    type: str = "string"
    description: str = ""
    selector: str | None = None  # CSS selector (html) or JSON path (http/file json)
    validation_json: str = "{}"  # required/minLength/maxLength/pattern/min/max/enum
    generated_by: str = "manual"  # "manual" or the model version that suggested it
    created_at: datetime = Field(default_factory=utcnow)


SUGGESTION_STATUS_VALUES = ("pending", "accepted", "edited", "rejected")


class AttributeSuggestion(SQLModel, table=True):
    """A model-suggested attribute awaiting accept / edit / reject."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    datastream_id: int = Field(foreign_key="datastream.id", index=True, ondelete="CASCADE")
    topic: str
    name: str
    type: str = "string"
    description: str = ""
    validation_json: str = "{}"
    status: str = Field(default="pending", index=True)
    reason: str | None = None
    model_version: str | None = None
    engine: str | None = None
    ab_test_id: int | None = Field(default=None, foreign_key="abtest.id")
    arm: str | None = None
    request_log_id: int | None = Field(default=None, foreign_key="requestlog.id")
    attribute_id: int | None = Field(default=None, foreign_key="attribute.id")
    example_id: int | None = Field(default=None, foreign_key="example.id")


class WorkflowRun(SQLModel, table=True):
    """One execution of a workflow; (workflow, due_time) unique so schedulers never double-run."""

    __table_args__ = (UniqueConstraint("workflow_id", "due_time", name="uq_workflowrun_due"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflow.id", index=True, ondelete="CASCADE")
    trigger: str = "manual"
    due_time: datetime | None = None
    status: str = Field(default="running", index=True)  # running / completed / failed / stopped
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    stop_requested: bool = False
    metrics_json: str = "{}"
    error: str | None = None
    pid: int | None = None  # the executing process: a dead pid marks a stale run (migration 0002)


class WorkflowLog(SQLModel, table=True):
    """A log line of a workflow run."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="workflowrun.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    level: str = "info"
    message: str
