"""`lightdom init`, `lightdom doctor`, `lightdom settings`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lightdom_tui.commands._common import JsonOpt, emit, err_console, home_option, markup_safe, workspace_from


def register(app: typer.Typer) -> None:
    """Add the workspace commands to the root app."""
    app.command("init")(init)
    app.command("doctor")(doctor)
    settings_app = typer.Typer(help="Show or change workspace settings (lightdom.toml).")
    settings_app.command("show")(settings_show)
    settings_app.command("set")(settings_set)
    app.add_typer(settings_app, name="settings")


def init(
    ctx: typer.Context,
    sample: Annotated[bool, typer.Option("--sample", help="Also ingest the shipped sample data.")] = False,
    json: JsonOpt = False,
) -> None:
    """Create a workspace (folders, settings, database) and register the embedded model."""
    from lightdom_tui.usecases.workspace import init_workspace

    result = init_workspace(home_option(ctx), sample=sample)

    def human(console: Console) -> None:
        verb = "Created" if result.created else "Workspace ready at"
        console.print(f"[bold green]{verb}[/] {result.home}")
        console.print(f"  default model: {result.default_model['version']} ({result.default_model['sha256'][:12]}…)")
        if result.samples:
            s = result.samples
            console.print(
                f"  samples: read {s['read']}, imported {s['imported']}, "
                f"duplicates {s['duplicates']}, quarantined {s['quarantined']}"
            )

    emit(result, json, human)


def doctor(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Report Python, torch/GPU, llama.cpp, bitsandbytes, keyring, disk and workspace state."""
    from lightdom_tui.usecases.workspace import run_doctor

    report = run_doctor(home_option(ctx))

    def human(console: Console) -> None:
        table = Table(title="lightdom doctor", show_header=False)
        torch = report["torch"]
        llama = report["llama_cpp"]
        ws = report["workspace"]
        table.add_row("python", report["python"])
        table.add_row("torch", f"{torch.get('version', 'not installed')} — device {torch['device']}")
        table.add_row("llama.cpp", f"{llama.get('version', 'missing')} gpu_offload={llama.get('gpu_offload')} "
                                   f"omp_wait={llama.get('omp_wait_policy')}")
        if llama.get("omp_note"):
            table.add_row("", llama["omp_note"])
        table.add_row("bitsandbytes", f"{report['bitsandbytes'].get('version')} ({report['bitsandbytes'].get('backend')})")
        table.add_row("keyring", str(report["keyring"].get("backend") or report["keyring"]))
        table.add_row("disk free", f"{report['disk']['free_gb']} GiB")
        table.add_row("embedded model", report["embedded_model"])
        state = ws.get("error") or ("ok" if ws["initialised"] else "not initialised")
        table.add_row("workspace", markup_safe(f"{ws['path']} ({state})"))
        settings = report["settings"]
        table.add_row("settings", "ok" if settings["valid"] else markup_safe("; ".join(settings["problems"])))
        for base in report.get("export_memory", []):
            need = base.get("error") or (f"~{base['export_peak_gb']} GiB RAM (+{base['mapped_f16_gb']} GiB f16 "
                                         "file mapped by llama.cpp)")
            table.add_row(f"export {base['version']}", need)
        console.print(table)

    emit(report, json, human)


def settings_show(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Print every setting in force."""
    from lightdom_tui.usecases.workspace import show_settings

    shown = show_settings(workspace_from(ctx))
    emit(shown.values, json, lambda c: c.print(shown.toml))


def settings_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="SECTION.KEY, e.g. serving.n_threads")],
    value: Annotated[str, typer.Argument(help="TOML value, e.g. 4, true, \"text\"")],
    json: JsonOpt = False,
) -> None:
    """Change one setting and save lightdom.toml (validated first; works on an invalid file and repairs it)."""
    from lightdom_tui.usecases.workspace import set_setting

    change = set_setting(home_option(ctx), key, value)

    def human(console: Console) -> None:
        console.print(f"{markup_safe(change.key)} = {markup_safe(repr(change.value))}")
        if change.repaired:
            err_console.print(f"[yellow]repaired {markup_safe(change.file)}[/] (the old file is kept as "
                              f"{markup_safe(change.backup)}); what was wrong, now at its default:")
            for problem in change.repaired:
                err_console.print(f"  {markup_safe(problem)}")

    emit(change, json, human)
