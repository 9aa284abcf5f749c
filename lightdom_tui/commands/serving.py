"""`lightdom export`, `generate`, `serve`, `pack`/`unpack`, `sync export` and `keys`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lightdom_tui.commands._common import JsonOpt, emit, err_console, home_option, workspace_from
from lightdom_tui.safetext import markup_safe


def register(app: typer.Typer) -> None:
    """Add the export/serving commands to the root app."""
    app.command("export")(export)
    app.command("generate")(generate)
    app.command("serve")(serve)
    app.command("pack")(pack)
    app.command("unpack")(unpack)
    sync_app = typer.Typer(help="Carry an edge box's logged calls and verdicts back to the workstation.")
    sync_app.command("export")(sync_export)
    app.add_typer(sync_app, name="sync")
    keys_app = typer.Typer(help="API keys for the remote fallback (system keyring; never printed in full).")
    keys_app.command("set")(keys_set)
    keys_app.command("show")(keys_show)
    keys_app.command("delete")(keys_delete)
    gateway_app = typer.Typer(help="API keys that clients present to `lightdom serve` off loopback (stored hashed).")
    gateway_app.command("add")(gateway_key_add)
    gateway_app.command("list")(gateway_key_list)
    gateway_app.command("revoke")(gateway_key_revoke)
    keys_app.add_typer(gateway_app, name="gateway")
    app.add_typer(keys_app, name="keys")


def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Adapter/merged version, alias, or run:ID.")],
    quant: Annotated[str, typer.Option("--quant", help="q4_k_m, q5_k_m, q8_0, f16, … (any llama.cpp type).")] = "q4_k_m",
    keep_merged: Annotated[bool, typer.Option("--keep-merged", help="Also keep (and register) the merged HF folder.")] = False,
    device: Annotated[str, typer.Option("--device", help="Where the LoRA merge runs: cpu or cuda.")] = "cpu",
    json: JsonOpt = False,
) -> None:
    """Merge + GGUF + quantize + verify, then register the GGUF version."""
    from rich.progress import Progress

    from lightdom_tui.usecases.registry import ExportRequest, check_export, export_model

    ws = workspace_from(ctx)
    request = ExportRequest(ref, quant, keep_merged=keep_merged, device=device)
    check_export(request)  # a bad --quant or --device fails before the progress bar draws anything
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("export", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(task, description=f"export: {stage}", completed=fraction)

        result = export_model(ws, request, progress=progress)

    def human(console: Console) -> None:
        check = result.verification
        console.print(f"[bold green]exported[/] {result.version} ({result.quant}, {result.size / 2**20:.1f} MiB)")
        console.print(f"  path: {result.path}")
        console.print(f"  sha256: {result.sha256[:16]}…")
        console.print(f"  verified: f16 rel diff {check['f16']['rel_diff']:.2e}, greedy match {check['f16']['greedy_match']}")
        if check.get("quant"):
            q = check["quant"]
            console.print(f"  {q['quant']}: agreement {q['agreement']:.3f}, perplexity {q['perplexity_delta']:+.2%}")
        for note in result.notes:
            console.print(f"  note: {note}")

    emit(result, json, human)


def generate(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="What the attributes describe, e.g. 'blog post'.")],
    count: Annotated[int, typer.Option("--count", "-n", help="How many attributes.")] = 8,
    model: Annotated[str | None, typer.Option("--model", help="Version or alias (default: routed).")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Extra context for the model.")] = None,
    json: JsonOpt = False,
) -> None:
    """Suggest attributes for a topic with the deployed model (remote API as fallback)."""
    from lightdom_tui.usecases.serving import generate as generate_attributes

    result = generate_attributes(workspace_from(ctx), topic, count=count, model=model, context=context)

    def human(console: Console) -> None:
        for attribute in result.attributes:
            console.print(f"[bold]{attribute['name']}[/] ({attribute['type']}): {attribute['description']}")
        console.print(f"[dim]{result.model} via {result.engine}, {result.latency_ms:.0f} ms[/]")

    emit(result, json, human)


def serve(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: serving.port).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs gateway keys.")] = "127.0.0.1",
    json: JsonOpt = False,
) -> None:
    """Serve every version, alias and task route as an OpenAI-compatible gateway until Ctrl-C."""
    from lightdom_tui.usecases.serving import GatewayAddress, serve_gateway

    def listening(address: GatewayAddress) -> None:
        # The one JSON object is printed before serving starts, so scripts can read the URL.
        emit(address, json, lambda c: c.print(f"gateway at [bold]{address.base_url}[/] (model: a version, an alias or "
                                              "task:TYPE; Ctrl-C stops)"))
        sys.stdout.flush()

    serve_gateway(workspace_from(ctx), listening, host=host, port=port)


def pack(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A GGUF version or alias.")],
    out: Annotated[Path, typer.Option("--output", "-o", help="The pack file to write.")],
    json: JsonOpt = False,
) -> None:
    """Write one file with the GGUF, its sha256, prompts, schema, task routes and lineage (for an edge box)."""
    from lightdom_tui.usecases.serving import pack_version

    result = pack_version(workspace_from(ctx), ref, out)
    emit(result, json, lambda c: c.print(
        f"packed [bold]{result.version}[/] → {result.path} ({result.size / 2**20:.1f} MiB, sha256 {result.sha256[:12]}…, "
        f"routes: {', '.join(result.task_routes) or 'none'})"))


def unpack(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A file written by `lightdom pack`.")],
    no_deploy: Annotated[bool, typer.Option("--no-deploy", help="Register only; do not serve its task routes.")] = False,
    json: JsonOpt = False,
) -> None:
    """Register a packed model here (sha256 checked) and deploy it for its task routes."""
    from lightdom_tui.usecases.serving import unpack_file

    result = unpack_file(workspace_from(ctx), source, deploy=not no_deploy)
    emit(result, json, lambda c: c.print(
        f"{'registered' if result.registered else 'already here:'} [bold]{result.version}[/] ({result.path}); "
        f"serving: {', '.join(result.deployed) or 'by name'}"))


def sync_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--output", "-o", help="The JSONL file to write.")],
    since: Annotated[str | None, typer.Option("--since", help="Only calls logged or judged since (ISO date).")] = None,
    json: JsonOpt = False,
) -> None:
    """Write this box's logged gateway calls and verdicts as one file for `lightdom ingest` on the workstation."""
    from lightdom_tui.usecases.serving import export_calls

    result = export_calls(workspace_from(ctx), out, since=since)
    emit(result, json, lambda c: c.print(
        f"{result.records} call(s), {result.verdicts} with a verdict, from {result.box} → {result.path}"))


ProviderArg = Annotated[str, typer.Argument(help="Provider name, e.g. deepseek.")]  # keys set / show / delete


def _read_key(provider: str) -> str:
    if sys.stdin.isatty():
        return typer.prompt(f"API key for {provider}", hide_input=True)
    return sys.stdin.readline().strip()


def keys_set(
    ctx: typer.Context,
    provider: ProviderArg,
    json: JsonOpt = False,
) -> None:
    """Store a key in the system keyring (typed hidden, or read from stdin)."""
    from lightdom_tui.usecases.serving import set_remote_key

    result = set_remote_key(provider, _read_key(provider))
    emit(result, json, lambda c: c.print(f"stored key for {provider} ({result.key}) in {result.backend}"))


def keys_show(
    ctx: typer.Context,
    provider: ProviderArg,
    json: JsonOpt = False,
) -> None:
    """Show whether a key is set and where from (masked: last 4 characters)."""
    from lightdom_tui.usecases.serving import show_remote_key

    result = show_remote_key(home_option(ctx), provider)
    emit(result, json, lambda c: c.print(f"{provider}: {result.key or 'not set'} ({result.source or '-'})"
                                         + (f"; {markup_safe(result.problem)}" if result.problem else "")))


def keys_delete(
    ctx: typer.Context,
    provider: ProviderArg,
    json: JsonOpt = False,
) -> None:
    """Remove a key from the keyring."""
    from lightdom_tui.usecases.serving import delete_remote_key

    result = delete_remote_key(provider)
    emit(result, json, lambda c: c.print(f"{provider}: {'deleted' if result.deleted else 'no key stored'}"))


def gateway_key_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. my-app.")],
    json: JsonOpt = False,
) -> None:
    """Create a gateway key; it is printed once (only its hash is stored)."""
    from lightdom_tui.usecases.serving import add_gateway_key

    result = add_gateway_key(workspace_from(ctx), name)
    emit(result, json, lambda c: c.print(
        f"gateway key [bold]{markup_safe(name)}[/]: {result.key}\n(shown once; clients send it as 'Authorization: Bearer …')"))


def gateway_key_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Names and creation times of the gateway keys (never the keys)."""
    from lightdom_tui.usecases.serving import list_gateway_keys

    result = list_gateway_keys(workspace_from(ctx))
    emit(result, json,
         lambda c: [c.print(f"{markup_safe(k.name)}  {k.created_at}") for k in result.keys] or c.print("no keys"))


def gateway_key_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The key's name.")],
    json: JsonOpt = False,
) -> None:
    """Delete a gateway key; a running gateway refuses it from the next request."""
    from lightdom_tui.usecases.serving import revoke_gateway_key

    result = revoke_gateway_key(workspace_from(ctx), name)
    emit(result, json, lambda c: c.print(f"{markup_safe(name)}: {'revoked' if result.revoked else 'no such key'}"))
