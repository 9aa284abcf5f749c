"""The closed loop as one list of stages: ingest → rules → dataset → train → export → evaluate → simulate → deploy.

Each stage is a small function ``(workspace, LoopState) -> detail dict`` that reads what
earlier stages left in the state and adds its own result. ``lightdom demo``, a
continuous-training round and the TUI run the same functions, in this process (no
child process of our own CLI, no string locator): a stage that fails raises with
its own message, and ``run_stages`` records which one it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

ATTRIBUTE_TASK = "attribute_generation"
CONTINUOUS_DATASET = "continuous"
CONTINUOUS_EVAL_LIMIT = 20  # validation items generated per round: enough to compare, bounded in time
STAGING_ALIAS = "staging"


@dataclass
class LoopConfig:
    """What one pass of the loop does; ``None`` fields keep the settings' / preset's defaults."""

    dataset_name: str
    samples: list[Path] = field(default_factory=list)  # ingest these first (none: use what is curated)
    sample_source: str = "sample"
    task_type: str | None = ATTRIBUTE_TASK
    min_quality: float | None = 0.5  # rules: auto-approve at or above this quality
    split: float = 0.8
    seed: int = 0
    preset: str | None = None
    max_steps: int | None = None
    method: str | None = None
    quants: tuple[str, ...] = ("q4_k_m",)
    keep_merged: bool = False  # keep (and reuse across quants) the merged HF folder; a round keeps only GGUFs
    eval_limit: int | None = None
    references: Path | None = None  # held-out references file, evaluated besides the validation split
    simulate_limit: int = 50
    deploy_stage: str | None = None  # None: the first rollout stage
    alias: str = STAGING_ALIAS
    reason: str = "loop round"


@dataclass
class LoopState:
    """What the stages have produced so far."""

    config: LoopConfig
    dataset: str | None = None
    n_validation: int = 0
    run_id: int | None = None
    adapter: str | None = None
    merged: str | None = None
    exported: list[str] = field(default_factory=list)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)  # version → {"validation", "heldout"}
    chosen: str | None = None


Stage = Callable[[Workspace, LoopState], dict[str, Any]]


def ingest(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Import the configured sample files (quarantining bad lines)."""
    from lightdom_tui.curation.ingest import ingest_paths

    report = ingest_paths(ws, list(state.config.samples), source=state.config.sample_source,
                          task_type=state.config.task_type)
    if state.config.samples and report.imported + report.duplicates == 0:
        raise LightdomError(f"ingest: nothing imported from {', '.join(map(str, state.config.samples))}")
    return {"read": report.read, "imported": report.imported, "duplicates": report.duplicates,
            "quarantined": report.quarantined, "errors": [asdict(e) for e in report.errors[:5]]}


def rules(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Apply the auto-rules (approve by quality) to pending examples."""
    from lightdom_tui.curation.rules import AutoRules, apply_rules

    task_types = [state.config.task_type] if state.config.task_type else None
    return asdict(apply_rules(ws, AutoRules(min_quality=state.config.min_quality, task_types=task_types)))


def dataset(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Freeze the approved examples into a new dataset version."""
    from lightdom_tui.curation.datasets import build_dataset

    ds = build_dataset(ws, state.config.dataset_name, split=state.config.split, seed=state.config.seed,
                       task_type=state.config.task_type, status="approved")
    state.dataset, state.n_validation = f"{ds.name}@{ds.version}", ds.n_validation
    return {"dataset": state.dataset, "id": ds.id, "n_train": ds.n_train, "n_validation": ds.n_validation,
            "manifest_hash": ds.manifest_hash}


def train(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Fine-tune on the dataset version (in this process) and record the adapter."""
    from lightdom_tui.usecases.training import TrainingSpec
    from lightdom_tui.usecases.training import train as run_training

    assert state.dataset is not None, "train needs the dataset stage"
    spec = TrainingSpec(dataset=state.dataset, preset=state.config.preset, method=state.config.method,
                        overrides={"max_steps": state.config.max_steps})
    done = run_training(ws, spec)
    if done.status != "completed" or not done.adapter_version:
        raise LightdomError(f"training run {done.run_id} ended {done.status}")
    state.run_id, state.adapter = done.run_id, done.adapter_version
    return {"run_id": done.run_id, "status": done.status, "adapter_version": done.adapter_version,
            "preset": state.config.preset, "metrics": done.metrics}


def export_quant(quant: str) -> Stage:
    """The export stage for one quantization (the merge is done once and reused)."""

    def export(ws: Workspace, state: LoopState) -> dict[str, Any]:
        from lightdom_tui.usecases.registry import ExportRequest, export_model

        source = state.merged or state.adapter
        assert source is not None, "export needs the train stage"
        result = export_model(ws, ExportRequest(source, quant, keep_merged=state.config.keep_merged))
        state.merged = result.merged_version or state.merged
        state.exported.append(result.version)
        return {"version": result.version, "quant": result.quant, "size": result.size, "sha256": result.sha256,
                "verification": result.verification, "timings_s": result.timings_s}

    export.__name__ = f"export_{quant}"
    return export


def export(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Export the adapter at every configured quantization."""
    return {quant: export_quant(quant)(ws, state) for quant in state.config.quants}


def evaluate_version(ws: Workspace, state: LoopState, version: str) -> dict[str, Any]:
    """One version on the validation split (and the held-out references when configured)."""
    from lightdom_tui.usecases.registry import EvaluationRequest
    from lightdom_tui.usecases.registry import evaluate as run_evaluation

    out: dict[str, Any] = {}
    if state.config.references is not None:
        out["heldout"] = run_evaluation(ws, EvaluationRequest(version, references=state.config.references,
                                                              limit=state.config.eval_limit))
    if state.dataset and state.n_validation:
        out["validation"] = run_evaluation(ws, EvaluationRequest(version, dataset=state.dataset,
                                                                 limit=state.config.eval_limit))
    state.evaluations[version] = out
    return out


def _score(results: dict[str, Any]) -> float:
    first = results.get("heldout") or results.get("validation")
    return float((first.metrics.get("f1") if first is not None else None) or 0.0)


def evaluate(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Evaluate every exported version; the best (name F1) becomes the loop's choice."""
    if not state.exported:
        raise LightdomError("evaluate: nothing exported yet")
    if state.config.references is None and not state.n_validation:
        state.chosen = state.exported[-1]
        return {"skipped": "the dataset has no validation split", "chosen": state.chosen}
    detail = {}
    for version in state.exported:
        results = evaluate_version(ws, state, version)
        detail[version] = {kind: {"f1": r.metrics.get("f1"), "json_validity": r.metrics.get("json_validity"),
                                  "n": r.n} for kind, r in results.items()}
    state.chosen = max(state.exported, key=lambda v: _score(state.evaluations[v]))
    return {"evaluations": detail, "chosen": state.chosen}


def simulate(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Replay the dataset's prompts through the chosen version (dry run: nothing live changes)."""
    from lightdom_tui.usecases.registry import simulate as run_simulation

    assert state.chosen is not None, "simulate needs the evaluate stage"
    data = asdict(run_simulation(ws, state.chosen, dataset=state.dataset, limit=state.config.simulate_limit))
    data.pop("rows", None)
    return data


def deploy(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Deploy the chosen version to the first rollout stage (health-checked) and move the alias to it."""
    from lightdom_tui.usecases.registry import AliasMoveRequest, DeployRequest, promote
    from lightdom_tui.usecases.registry import deploy as run_deploy

    assert state.chosen is not None, "deploy needs the evaluate stage"
    stage = state.config.deploy_stage or ws.settings.deploy.stages[0]
    result = run_deploy(ws, DeployRequest(state.chosen, [ATTRIBUTE_TASK], stage))
    if not result.ok:
        raise LightdomError(f"deploy: {result.message}")
    move = promote(ws, AliasMoveRequest(state.config.alias, state.chosen, state.config.reason))
    return {"version": result.version, "stage": result.stage, "message": result.message, "health": result.health,
            "alias": {state.config.alias: move.version}}


def stage_alias(ws: Workspace, state: LoopState) -> dict[str, Any]:
    """Point the alias (staging) at the chosen version without deploying it."""
    from lightdom_tui.usecases.registry import AliasMoveRequest, promote

    assert state.chosen is not None, "stage needs the evaluate stage"
    move = promote(ws, AliasMoveRequest(state.config.alias, state.chosen, state.config.reason))
    return {"alias": move.alias, "version": move.version}


#: the whole loop, in order
STAGES: tuple[tuple[str, Stage], ...] = (
    ("ingest", ingest), ("rules", rules), ("dataset", dataset), ("train", train), ("export", export),
    ("evaluate", evaluate), ("simulate", simulate), ("deploy", deploy),
)
#: a continuous-training round: from what is curated to a staged candidate
ROUND: tuple[tuple[str, Stage], ...] = (
    ("dataset", dataset), ("train", train), ("export", export), ("evaluate", evaluate), ("stage", stage_alias),
)


@dataclass
class StageRecord:
    """One stage run: ok or its error, its detail and how long it took."""

    name: str
    ok: bool = False
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class LoopStageError(LightdomError):
    """A loop stage failed; ``stage`` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage


def run_stage(ws: Workspace, state: LoopState, name: str, stage: Stage, records: list[StageRecord],
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one stage, timing it and recording it; a failure is re-raised as ``LoopStageError``."""
    record = StageRecord(name)
    records.append(record)
    if log:
        log(f"[loop] {name} …")
    started = time.perf_counter()
    try:
        record.detail = stage(ws, state) or {}
        record.ok = True
        return record.detail
    except Exception as exc:  # the record says which stage broke; earlier stages' results stay
        record.error = (str(exc) if isinstance(exc, LightdomError) else f"{type(exc).__name__}: {exc}") or \
            type(exc).__name__
        raise LoopStageError(name, record.error) from exc
    finally:
        record.seconds = round(time.perf_counter() - started, 2)
        if log:
            log(f"[loop] {name}: {'ok' if record.ok else 'FAILED'} in {record.seconds:.1f} s")


def run_stages(ws: Workspace, state: LoopState, stages: tuple[tuple[str, Stage], ...],
               log: Callable[[str], None] | None = None) -> list[StageRecord]:
    """Run ``stages`` in order; stops at the first failure (its record has the error)."""
    records: list[StageRecord] = []
    for name, stage in stages:
        try:
            run_stage(ws, state, name, stage, records, log)
        except LoopStageError:
            break
    return records


# --------------------------------------------------------------------------- continuous training


@dataclass
class RoundResult:
    """What a continuous-training round did (or proposes), step by step."""

    action: str  # none / proposed / completed / failed
    message: str
    policy: Any  # registry.continuous.PolicyCheck
    steps: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None


def loop_status(ws: Workspace) -> Any:
    """Where the continuous-training loop stands against its policy (``ContinuousStatus``)."""
    from lightdom_tui.registry.continuous import loop_status as status

    return status(ws)


def _round_plan() -> list[dict[str, Any]]:
    return [{"step": name, "status": "planned"} for name, _ in ROUND]


def _step_detail(record: StageRecord, state: LoopState) -> str:
    detail = record.detail
    return {
        "dataset": lambda: f"{detail.get('dataset')}: {detail.get('n_train')} train / "
                           f"{detail.get('n_validation')} validation",
        "train": lambda: f"run #{state.run_id} → {state.adapter}",
        "export": lambda: ", ".join(f"{d['version']} ({d['quant']}, {d['size']} bytes)" for d in detail.values()),
        "evaluate": lambda: detail.get("skipped") or f"chosen {state.chosen}",
        "stage": lambda: f"{detail.get('alias')} → {detail.get('version')}",
    }[record.name]()


def run_round(ws: Workspace, *, auto: bool = False, force: bool = False, max_steps: int | None = None,
              quant: str = "q4_k_m", method: str | None = None) -> RoundResult:
    """Check the policy; propose the round, or (``auto``) run dataset → train → export → evaluate → stage."""
    from lightdom_tui.registry.continuous import check_policy

    with ws.session() as session:
        policy = check_policy(ws, session)
    if not policy.due and not force:
        return RoundResult("none", "policy not met: " + (f"{policy.new_approved}/{policy.min_new_approved} new "
                           "approved examples"), policy)
    auto = auto or ws.settings.continuous.auto
    why = "; ".join(policy.reasons) or "forced"
    if not auto:
        return RoundResult("proposed", f"round due ({why}); run `lightdom continuous run --auto` to start it",
                           policy, _round_plan())
    state = LoopState(LoopConfig(CONTINUOUS_DATASET, task_type=None, max_steps=max_steps, method=method,
                                 quants=(quant,), eval_limit=CONTINUOUS_EVAL_LIMIT,
                                 reason=f"continuous round ({why})"))
    records = run_stages(ws, state, ROUND)
    steps = [{"step": r.name, "status": "done" if r.ok else "failed",
              "detail": _step_detail(r, state) if r.ok else (r.error or "")} for r in records]
    failed = next((r for r in records if not r.ok), None)
    if failed is not None:
        return RoundResult("failed", failed.error or "failed", policy, steps)
    return RoundResult("completed", f"{state.chosen} is on {STAGING_ALIAS}; A/B test or promote it when ready",
                       policy, steps, state.chosen)


@dataclass
class DemoResult:
    """What ``lightdom demo`` reports: the before/after table, per-stage times and the report file."""

    home: str
    completed: bool
    chosen: str | None
    verdict: dict[str, Any]
    table: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    report: str


def run_demo(home: Path | None, *, steps: int | None = None, limit: int | None = None, method: str | None = None,
             log: Callable[[str], None] = print) -> DemoResult:
    """The closed loop on the embedded model in workspace ``home`` (created if needed; None: a fresh temporary one).

    ``method`` is checked before anything is created or evaluated; a failing stage raises
    naming it (the partial report is written).
    """
    import tempfile

    from lightdom_tui.demo import REPORT_NAME, run_demo as run, table_rows
    from lightdom_tui.training.config import METHOD_VALUES

    if method is not None and method not in METHOD_VALUES:
        raise LightdomError(f"--method {method!r}: expected one of {', '.join(METHOD_VALUES)}")
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="lightdom-demo-"))
    report = run(home, steps=steps, limit=limit, method=method, log=log)
    return DemoResult(report.home, report.completed, report.chosen, report.verdict, table_rows(report),
                      [{"name": s.name, "seconds": s.seconds, "ok": s.ok} for s in report.stages],
                      str(Path(report.home) / "training_data" / "exports" / REPORT_NAME))
