"""`lightdom models|eval|ab|simulate|deploy|alerts|continuous`: the registry's CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from lightdom_tui.commands._common import JsonOpt, emit, workspace_from
from lightdom_tui.errors import LightdomError

AliasOpt = Annotated[str, typer.Option("--alias", "-a", help="Alias name, e.g. production or staging.")]
TaskTypesOpt = Annotated[
    str | None, typer.Option("--task-types", "-t", help="Comma-separated task types (default: all).")
]


def register(app: typer.Typer) -> None:
    """Add the registry commands to the root app."""
    models_app = typer.Typer(help="Model versions, aliases and lineage.", no_args_is_help=True)
    for name, func in (
        ("list", models_list),
        ("show", models_show),
        ("add-base", models_add_base),
        ("promote", models_promote),
        ("rollback", models_rollback),
        ("history", models_history),
        ("delete", models_delete),
    ):
        models_app.command(name)(func)
    app.add_typer(models_app, name="models")

    ab_app = typer.Typer(help="A/B tests between two model versions.", no_args_is_help=True)
    for name, func in (
        ("create", ab_create),
        ("list", ab_list),
        ("report", ab_report),
        ("record", ab_record),
        ("promote", ab_promote),
        ("end", ab_end),
    ):
        ab_app.command(name)(func)
    app.add_typer(ab_app, name="ab")

    app.command("deploy")(deploy)
    app.command("alerts")(alerts)
    app.command("eval")(evaluate)
    app.command("simulate")(simulate)

    continuous_app = typer.Typer(help="Continuous training loop.", no_args_is_help=True)
    continuous_app.command("status")(continuous_status)
    continuous_app.command("run")(continuous_run)
    app.add_typer(continuous_app, name="continuous")


# --------------------------------------------------------------------------- models


def models_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List every model version with its aliases and deployments."""
    from lightdom_tui.usecases.registry import list_models

    models = list_models(workspace_from(ctx))

    def human(console: Console) -> None:
        table = Table(title=f"{len(models)} model versions")
        for column in ("id", "version", "kind", "format", "quant", "size", "aliases", "deployed"):
            table.add_column(column)
        for m in models:
            size = f"{(m.size_bytes or 0) / 2**20:.1f} MiB"
            table.add_row(str(m.id), m.version, m.kind, m.format, m.quant or "", size, ", ".join(m.aliases),
                          ", ".join(m.deployed_to))
        console.print(table)

    emit({"models": models}, json, human)


def _render_lineage(console: Console, detail: Any) -> None:
    m = detail.model
    title = f"[bold]{m.version}[/] ({m.kind}, {m.format}{', ' + m.quant if m.quant else ''})"
    if m.aliases:
        title += f"  aliases: {', '.join(m.aliases)}"
    tree = Tree(title)
    node = tree
    for step in detail.lineage:
        label = f"{step.version} [dim]{step.kind}/{step.format} sha256 {str(step.sha256 or '')[:12]}[/]"
        node = node.add(label)
        if step.run:
            node.add(f"run #{step.run.get('id')} {step.run.get('method', '')} {step.run.get('status', '')}")
        if step.dataset:
            node.add(f"dataset {step.dataset.get('name')} manifest {str(step.dataset.get('manifest_hash'))[:16]}")
    console.print(tree)
    console.print(f"path: {m.path}")
    if detail.children:
        console.print(f"children: {', '.join(detail.children)}")
    if m.deployed_to:
        console.print(f"deployed to: {', '.join(m.deployed_to)}")
    for e in detail.evaluations:
        console.print(f"evaluation #{e['id']} ({e['task_type']}, n={e['n']}): {e['metrics']}")


def models_show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version id, name or alias.")],
    json: JsonOpt = False,
) -> None:
    """Show one version with its lineage tree (parents, run, dataset@version + manifest hash)."""
    from lightdom_tui.usecases.registry import show_model

    detail = show_model(workspace_from(ctx), version)
    emit(detail, json, lambda c: _render_lineage(c, detail))


def models_add_base(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A local Hugging Face model folder or a .gguf file.")],
    name: Annotated[str | None, typer.Option("--name", help="Version name (default: from the path).")] = None,
    json: JsonOpt = False,
) -> None:
    """Register a local base model in place (architecture read from config.json / GGUF metadata)."""
    from lightdom_tui.usecases.registry import add_base

    summary = add_base(workspace_from(ctx), path, name=name)
    emit(summary, json, lambda c: c.print(
        f"[green]registered[/] {summary.version}: {summary.format} {summary.architecture or '?'} "
        f"{summary.quant or ''} sha256 {str(summary.sha256)[:12]}…"
    ))


def models_promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version id or name to promote.")],
    alias: AliasOpt = "production",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")] = None,
    json: JsonOpt = False,
) -> None:
    """Point an alias at a version (atomic; the history keeps the previous holder)."""
    from lightdom_tui.usecases.registry import AliasMoveRequest, promote

    move = promote(workspace_from(ctx), AliasMoveRequest(alias, version, reason))
    text = (
        f"{move.alias}: {move.previous_version or '(unset)'} → {move.version}"
        if move.changed
        else f"{move.alias} already points at {move.version}"
    )
    emit(move, json, lambda c: c.print(text))


def models_rollback(
    ctx: typer.Context,
    alias: AliasOpt = "production",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")] = None,
    json: JsonOpt = False,
) -> None:
    """Move an alias back to its previous holder (atomic)."""
    from lightdom_tui.usecases.registry import AliasMoveRequest, rollback_alias

    move = rollback_alias(workspace_from(ctx), AliasMoveRequest(alias, None, reason))
    emit(move, json, lambda c: c.print(f"{move.alias}: {move.previous_version} → {move.version} (rolled back)"))


def models_history(
    ctx: typer.Context,
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Only this alias.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recent N moves.")] = 50,
    json: JsonOpt = False,
) -> None:
    """Every alias move, newest first."""
    from lightdom_tui.usecases.registry import alias_history

    history = alias_history(workspace_from(ctx), alias, limit)

    def human(console: Console) -> None:
        table = Table(title="alias history")
        for column in ("when", "alias", "action", "from", "to", "reason"):
            table.add_column(column)
        for h in history:
            table.add_row(f"{h.created_at:%Y-%m-%d %H:%M:%S}", h.alias, h.action, h.previous_version or "",
                          h.version or "", h.reason or "")
        console.print(table)

    emit({"history": history}, json, human)


def models_delete(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version id or name.")],
    keep_files: Annotated[bool, typer.Option("--keep-files", help="Keep the files on disk.")] = False,
    json: JsonOpt = False,
) -> None:
    """Delete a version that no alias, deployment, A/B test or child version uses."""
    from lightdom_tui.usecases.registry import delete_model

    result = delete_model(workspace_from(ctx), version, keep_files=keep_files)
    emit(result, json, lambda c: c.print(
        f"deleted {result.version}{' and its files' if result.files_removed else ''}"
    ))


# --------------------------------------------------------------------------- A/B tests


def ab_create(
    ctx: typer.Context,
    a: Annotated[str, typer.Option("--a", help="Incumbent version (arm a).")],
    b: Annotated[str, typer.Option("--b", help="Candidate version (arm b).")],
    split: Annotated[float, typer.Option("--split", help="Share of traffic for b, in (0, 1).")] = 0.5,
    task_types: TaskTypesOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Test name (default: A-vs-B-timestamp).")] = None,
    alias: AliasOpt = "production",
    json: JsonOpt = False,
) -> None:
    """Start an A/B test; the router splits matching requests by a hash of their key."""
    from lightdom_tui.usecases.registry import ABTestRequest, create_ab_test

    info = create_ab_test(workspace_from(ctx), ABTestRequest(a, b, split, task_types, name, alias))
    emit(info, json, lambda c: c.print(
        f"A/B test #{info.id} '{info.name}': a={info.version_a} b={info.version_b} split={info.split} "
        f"task types: {', '.join(info.task_types) or 'all'}"
    ))


def ab_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List A/B tests, newest first."""
    from lightdom_tui.usecases.registry import list_ab_tests

    tests = list_ab_tests(workspace_from(ctx))

    def human(console: Console) -> None:
        table = Table(title="A/B tests")
        for column in ("id", "name", "status", "a", "b", "split", "task types", "winner"):
            table.add_column(column)
        for t in tests:
            table.add_row(str(t.id), t.name, t.status, t.version_a, t.version_b, f"{t.split:.2f}",
                          ", ".join(t.task_types) or "all", t.winner or "")
        console.print(table)

    emit({"tests": tests}, json, human)


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def ab_report(
    ctx: typer.Context,
    test: Annotated[str, typer.Argument(help="Test id or name.")],
    signals: Annotated[str | None, typer.Option("--signals", help="Only these signals (comma-separated).")] = None,
    json: JsonOpt = False,
) -> None:
    """Per-arm success rate with 95 % CIs, the two-proportion z-test, latency and a recommendation."""
    from lightdom_tui.usecases.registry import ab_report as build_report

    report = build_report(workspace_from(ctx), test, signals)

    def human(console: Console) -> None:
        table = Table(title=f"A/B test '{report.test.name}' ({report.test.status})")
        for column in ("arm", "version", "n", "success", "95% CI", "requests", "p50 ms", "p95 ms"):
            table.add_column(column)
        for arm in report.arms.values():
            table.add_row(arm.arm, arm.version, str(arm.n), _fmt(arm.success_rate, "{:.1%}"),
                          f"{arm.ci95[0]:.1%}–{arm.ci95[1]:.1%}", str(arm.requests),
                          _fmt(arm.latency_p50_ms, "{:.0f}"), _fmt(arm.latency_p95_ms, "{:.0f}"))
        console.print(table)
        console.print(f"signals counted: {', '.join(report.signals) if report.signals else 'all'}")
        console.print(f"difference (b − a): {_fmt(report.difference, '{:+.3f}')}  z = {_fmt(report.z, '{:.2f}')}"
                      f"  p = {_fmt(report.p_value, '{:.4f}')}")
        console.print(f"[bold]{report.recommendation}[/]: {report.reason}")

    emit(report, json, human)


def ab_record(
    ctx: typer.Context,
    test: Annotated[str, typer.Argument(help="Test id or name.")],
    arm: Annotated[str, typer.Option("--arm", help="a or b.")],
    success: Annotated[bool, typer.Option("--success/--failure", help="Was the outcome good?")],
    signal: Annotated[str, typer.Option("--signal", help="accept / reject / validity / latency / external.")] = (
        "external"
    ),
    latency_ms: Annotated[float | None, typer.Option("--latency-ms", help="Observed latency.")] = None,
    request_key: Annotated[str | None, typer.Option("--request-key", help="The request's key.")] = None,
    json: JsonOpt = False,
) -> None:
    """Record an external outcome for one arm."""
    from lightdom_tui.usecases.registry import OutcomeRequest, record_ab_outcome

    payload = record_ab_outcome(workspace_from(ctx), OutcomeRequest(test, arm, success, signal, latency_ms,
                                                                    request_key))
    emit(payload, json, lambda c: c.print(f"recorded outcome #{payload['id']} for arm {arm}"))


def ab_promote(
    ctx: typer.Context,
    test: Annotated[str, typer.Argument(help="Test id or name.")],
    arm: Annotated[str | None, typer.Option("--arm", help="Force the winner (a or b).")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Alias to move (default: the test's).")] = None,
    json: JsonOpt = False,
) -> None:
    """End the test and move its alias to the winner (the recommended arm unless --arm)."""
    from lightdom_tui.usecases.registry import promote_ab

    result = promote_ab(workspace_from(ctx), test, arm=arm, alias=alias)
    emit(result, json, lambda c: c.print(
        f"A/B test '{result.test.name}' ended; arm {result.winner_arm} wins: "
        f"{result.move.alias} → {result.move.version}"
    ))


def ab_end(
    ctx: typer.Context,
    test: Annotated[str, typer.Argument(help="Test id or name.")],
    json: JsonOpt = False,
) -> None:
    """End a test without promoting anything."""
    from lightdom_tui.usecases.registry import end_ab_test

    info = end_ab_test(workspace_from(ctx), test)
    emit(info, json, lambda c: c.print(f"A/B test '{info.name}' ended"))


# --------------------------------------------------------------------------- deploy and alerts

DEPLOY_ACTIONS = ("status", "rollback", "widen")


def _render_deploy_status(console: Console, status: Any) -> None:
    table = Table(title="active deployments")
    for column in ("id", "task type", "version", "stage", "since", "auto-rollback"):
        table.add_column(column)
    for d in status.active:
        table.add_row(str(d.id), d.task_type, d.version, d.stage, f"{d.created_at:%Y-%m-%d %H:%M:%S}",
                      "yes" if d.auto_rollback else "no")
    console.print(table)
    if status.rollouts:
        console.print("rollout: " + ", ".join(f"{v} at {s}" for v, s in status.rollouts.items())
                      + f"  (stages: {' → '.join(status.stages)})")
    history = Table(title="recent")
    for column in ("id", "task type", "version", "stage", "status"):
        history.add_column(column)
    for d in status.history:
        history.add_row(str(d.id), d.task_type, d.version, d.stage, d.status)
    console.print(history)


def deploy(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A version to deploy, or: status | rollback | widen.")],
    version: Annotated[str | None, typer.Argument(help="With `widen`: the version to widen.")] = None,
    task_types: TaskTypesOpt = None,
    stage: Annotated[str | None, typer.Option("--stage", help="Rollout stage (default: the first).")] = None,
    task_type: Annotated[str | None, typer.Option("--task-type", help="rollback: only this task type.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="rollback: why (kept in the history).")] = None,
    health: Annotated[str, typer.Option("--health", help="canary (generate) | load | none.")] = "canary",
    auto_rollback: Annotated[
        bool | None, typer.Option("--auto-rollback/--no-auto-rollback", help="Roll back on alert.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """`deploy V [--task-types a,b]`, `deploy widen V [--task-types …]`, `deploy status`, `deploy rollback`."""
    from lightdom_tui.usecases import registry as uc

    workspace = workspace_from(ctx)
    if health not in uc.HEALTH_CHECKS:
        raise LightdomError(f"--health {health}: expected canary, load or none")
    if target == "status":
        status = uc.deploy_status(workspace)
        emit(status, json, lambda c: _render_deploy_status(c, status))
        return
    if target == "rollback":
        rolled = uc.rollback_deployment(workspace, uc.DeployRollbackRequest(task_type, reason))
        emit(rolled, json, lambda c: c.print(f"{rolled.message} in {rolled.elapsed_ms:.1f} ms"))
        return
    if target == "widen":
        if not version:
            raise LightdomError("deploy widen: name the version, e.g. `lightdom deploy widen my-model`")
        _emit_deploy(uc.deploy(workspace, uc.DeployRequest(version, task_types, health=health, widen=True)), json)
        return
    if version:
        raise LightdomError(f"deploy {target} {version}: unexpected second argument")
    result = uc.deploy(workspace, uc.DeployRequest(target, task_types, stage, health, auto_rollback))
    _emit_deploy(result, json)
    if not result.ok:
        raise typer.Exit(1)


def _emit_deploy(result: Any, as_json: bool) -> None:
    def human(console: Console) -> None:
        colour = "green" if result.ok else "red"
        console.print(f"[{colour}]{result.message}[/]")
        for check in result.health.get("checks", []):
            mark = "ok" if check["ok"] else f"FAILED: {check['error']}"
            console.print(f"  {check['topic']}: {check['latency_ms']:.0f} ms {mark}")

    emit(result, as_json, human)


def alerts(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="Compute metrics now and raise alerts.")] = False,
    ack: Annotated[bool, typer.Option("--ack", help="Acknowledge all open alerts.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Include acknowledged alerts.")] = False,
    auto_rollback: Annotated[
        bool | None, typer.Option("--auto-rollback/--no-auto-rollback", help="Override the setting for --check.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Show monitoring alerts; --check computes rolling metrics per deployment first."""
    from lightdom_tui.usecases.registry import alerts as read_alerts

    result = read_alerts(workspace_from(ctx), check=check, ack=ack, include_acknowledged=show_all,
                         auto_rollback=auto_rollback)
    payload: dict[str, Any] = {}
    if check:
        payload.update({"metrics": result.metrics, "new_alerts": result.new_alerts, "rolled_back": result.rolled_back})
    if ack:
        payload["acknowledged"] = result.acknowledged
    payload["alerts"] = result.alerts

    def human(console: Console) -> None:
        for m in payload.get("metrics", []):
            console.print(
                f"deployment #{m.deployment_id} {m.version} ({m.task_type}): {m.requests} requests, "
                f"errors {_fmt(m.error_rate, '{:.1%}')}, p95 {_fmt(m.latency_p95_ms, '{:.0f}')} ms, "
                f"fallback {_fmt(m.fallback_rate, '{:.1%}')}, rejection {_fmt(m.rejection_rate, '{:.1%}')}, "
                f"confidence {_fmt(m.confidence)}"
            )
        for rolled in payload.get("rolled_back", []):
            console.print(f"[red]auto-rollback:[/] {rolled}")
        table = Table(title="alerts")
        for column in ("id", "when", "metric", "value", "threshold", "message", "action"):
            table.add_column(column)
        for a in payload["alerts"]:
            table.add_row(str(a.id), f"{a.created_at:%Y-%m-%d %H:%M}", a.metric, f"{a.value:.3f}",
                          f"{a.threshold:.3f}", a.message, a.action or "")
        console.print(table)

    emit(payload, json, human)


# --------------------------------------------------------------------------- evaluation, simulation, continuous


def evaluate(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Argument(help="Version id, name or alias to evaluate.")] = None,
    references: Annotated[
        Path | None, typer.Option("--references", help='JSONL file of {"topic", "reference": [names]} lines.')
    ] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Dataset NAME[@VERSION]: its validation split.")] = None,
    compare: Annotated[
        tuple[str, str] | None, typer.Option("--compare", help="Compare the latest evaluations of two versions.")
    ] = None,
    task_type: Annotated[str, typer.Option("--task-type", help="attribute_generation or tool_use.")] = (
        "attribute_generation"
    ),
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate at most N items.")] = None,
    json: JsonOpt = False,
) -> None:
    """Evaluate a version on a references file or a dataset's validation split; or --compare V1 V2."""
    from lightdom_tui.usecases import registry as uc

    workspace = workspace_from(ctx)
    if compare:
        table = uc.compare(workspace, compare[0], compare[1], task_type=task_type)
        emit(table, json, lambda c: _render_compare(c, table))
        return
    if not version:
        raise LightdomError("eval: name a version (or use --compare V1 V2)")
    result = uc.evaluate(workspace, uc.EvaluationRequest(version, dataset, references, task_type, limit))
    emit(result, json, lambda c: _render_eval(c, result))


def _render_eval(console: Console, result: Any) -> None:
    table = Table(title=f"evaluation #{result.evaluation_id}: {result.version} ({result.task_type}, n={result.n})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, _fmt(value, "{:.4f}") if isinstance(value, float) else str(value))
    console.print(table)


def _render_compare(console: Console, result: Any) -> None:
    table = Table(title=f"{result.version_a} vs {result.version_b} ({result.task_type})")
    for column in ("metric", result.version_a, result.version_b, "delta"):
        table.add_column(column, justify="right")
    for row in result.rows:
        table.add_row(row.metric, _fmt(row.a, "{:.4f}"), _fmt(row.b, "{:.4f}"), _fmt(row.delta, "{:+.4f}"))
    console.print(table)


def simulate(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Candidate version id, name or alias.")],
    dataset: Annotated[str | None, typer.Option("--dataset", help="Replay this dataset's validation prompts.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Replay at most N prompts.")] = 50,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Auto-rule: reject below this confidence.")
    ] = None,
    min_quality: Annotated[
        float, typer.Option("--min-quality", help="Auto-rule: reject answers whose quality score is below this.")
    ] = 0.5,
    json: JsonOpt = False,
) -> None:
    """Dry-run: replay logged (or a dataset's) prompts through a candidate; nothing live is touched."""
    from lightdom_tui.usecases.registry import simulate as run_simulation

    result = run_simulation(workspace_from(ctx), version, dataset=dataset, limit=limit, min_confidence=min_confidence,
                            min_quality=min_quality)

    def human(console: Console) -> None:
        table = Table(title=f"simulation of {result.version} on {result.n} prompts ({result.source})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.summary.items():
            table.add_row(key, _fmt(value, "{:.4f}") if isinstance(value, float) else str(value))
        console.print(table)
        console.print(f"[bold]{result.verdict}[/]")

    emit(result, json, human)


def continuous_status(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Where the continuous-training loop stands against its policy."""
    from lightdom_tui.usecases.loop import loop_status

    status = loop_status(workspace_from(ctx))

    def human(console: Console) -> None:
        console.print(f"[bold]{status.stage}[/]: {status.message}")
        for key, value in status.facts.items():
            console.print(f"  {key}: {value}")

    emit(status, json, human)


def continuous_run(
    ctx: typer.Context,
    auto: Annotated[bool, typer.Option("--auto", help="Start the round, not only propose it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even when the policy is not met.")] = False,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Training steps for the round.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="qlora or lora (default: settings).")] = None,
    quant: Annotated[str, typer.Option("--quant", help="GGUF quantization of the export.")] = "q4_k_m",
    json: JsonOpt = False,
) -> None:
    """Check the policy and propose (or with --auto start) dataset → train → eval → staging deploy."""
    from lightdom_tui.usecases.loop import run_round

    result = run_round(workspace_from(ctx), auto=auto, force=force, max_steps=max_steps, method=method, quant=quant)

    def human(console: Console) -> None:
        console.print(f"[bold]{result.action}[/]: {result.message}")
        for step in result.steps:
            console.print(f"  {step['step']}: {step['status']} {step.get('detail', '')}")

    emit(result, json, human)
