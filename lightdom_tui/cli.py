"""The `lightdom` command: parse → call a service → print (rich) or --json.

Command groups live in ``lightdom_tui/commands/``; each module has ``register(app)``.
User mistakes (:class:`LightdomError`) print one line on stderr and exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from lightdom_tui.errors import LightdomError


class _LightdomGroup(TyperGroup):
    """Root group that turns user-facing errors into one stderr line and exit code 1."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click signature
        try:
            return super().invoke(ctx)
        except LightdomError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_LightdomGroup,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    help="LightDom: curate data, fine-tune, export, evaluate and serve small models, offline.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Workspace folder (else $LIGHTDOM_HOME, else the current directory)."),
    ] = None,
) -> None:
    """With no command, open the terminal app on the workspace."""
    ctx.obj = {"home": home}
    if ctx.invoked_subcommand is None:
        from lightdom_tui.workspace import open_workspace

        workspace = open_workspace(home)
        from lightdom_tui.tui.app import run_app

        run_app(workspace)


def _register_commands() -> None:
    from lightdom_tui.commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
