"""The `lightdom` command: parse → call a service → print (rich) or --json.

Command groups live in ``lightdom_tui/commands/``; each module has ``register(app)``.

One error boundary (:class:`_LightdomGroup`): every expected failure — a user mistake
(:class:`LightdomError`), the file system (read-only workspace, missing file), the database
(not SQLite, locked, read-only), undecodable or too deeply nested input, numbers out of
range — prints one line on stderr naming the input at fault and exits 1; a usage error
prints one line and exits 2. Anything else is a bug and keeps its traceback
(``LIGHTDOM_DEBUG=1`` shows the traceback behind an error line too). Every integer option
is bounded at parse time to what SQLite can store (seeds to 0 … 2^32-1) and every float
option must be finite.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from lightdom_tui.bounds import INT64_MAX, INT64_MIN, SEED_MAX
from lightdom_tui.errors import LightdomError

try:  # typer >= 0.2x carries its own click: its errors share this base
    from typer import TyperException as UsageFailure
except ImportError:  # pragma: no cover - older typer over click
    from click import ClickException as UsageFailure

DEBUG_ENV = "LIGHTDOM_DEBUG"
MAX_ERROR_CHARS = 600


def _number_problem(param: Any, value: Any) -> str | None:
    """Why a parsed value may not be used (an int SQLite cannot store, a NaN …), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        low, high = (0, SEED_MAX) if (param.name or "").endswith("seed") else (INT64_MIN, INT64_MAX)
        return None if low <= value <= high else f"{value} is out of range (allowed {low} … {high})"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, (list, tuple)):
        return next((p for p in (_number_problem(param, item) for item in value) if p), None)
    return None


def _bounded(param: Any) -> None:
    """Check ``param``'s parsed value too: typer and click convert, this bounds what they let through."""
    convert = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        value = convert(ctx, value)
        problem = _number_problem(param, value)
        if problem:
            raise typer.BadParameter(problem, ctx=ctx, param=param)
        return value

    param.process_value = process_value
    param.lightdom_bounded = True


def _bound_numbers(command: Any) -> None:
    """Bound every number parameter of ``command`` and its subcommands, at parse time."""
    for param in command.params:
        if not getattr(param, "lightdom_bounded", False):
            _bounded(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        _bound_numbers(sub)


def _inputs(argv: list[str]) -> list[str]:
    """The inputs an error most likely came from: values naming existing files, options given JSON text."""
    found = []
    option = None
    for token in argv:
        name, value = token.split("=", 1) if token.startswith("--") and "=" in token else (option, token)
        option = token if token.startswith("--") and "=" not in token else None
        if value[:1] in ("[", "{") and name:
            found.append(name)
            continue
        try:
            if value and not value.startswith("-") and len(value) < 4096 and Path(value).expanduser().is_file():
                found.append(value)
        except (OSError, ValueError):
            continue
    return found


def _db_path(ctx: Any) -> Path:
    from lightdom_tui.workspace import DB_FILE, resolve_home

    home = (ctx.obj or {}).get("home") if isinstance(ctx.obj, dict) else None
    try:
        return resolve_home(home) / "storage" / DB_FILE
    except (OSError, RuntimeError):
        return Path("storage") / DB_FILE


def _error_line(exc: BaseException, ctx: Any, argv: list[str]) -> str | None:
    """One line naming what went wrong and with which input; None when ``exc`` is not an expected failure."""
    import json

    from lightdom_tui.errors import database_error

    if isinstance(exc, LightdomError):
        return str(exc)
    if not isinstance(exc, (OSError, ValueError, OverflowError, RecursionError, MemoryError)):
        failure = database_error(_db_path(ctx), exc)
        return None if failure is None else str(failure)
    inputs = _inputs(argv)
    where = f" (input: {', '.join(inputs)})" if inputs else f" (in `lightdom {' '.join(argv[:2])}`)"
    if isinstance(exc, OSError):
        names = " → ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            reason += " (is the workspace read-only?)"
        return f"{names}: {reason}" if names else f"{reason}{where}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{where}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not {exc.encoding} text: {exc.reason} at byte {exc.start}{where}"
    if isinstance(exc, UnicodeEncodeError):
        return f"text cannot be written as {exc.encoding}: {exc.reason} at character {exc.start}{where}"
    if isinstance(exc, RecursionError):
        return f"input nested too deeply to read{where}"
    if isinstance(exc, MemoryError):
        return f"out of memory{where}"
    if isinstance(exc, OverflowError):
        return f"number out of range: {exc}{where}"
    return f"{exc}{where}"


def _say(message: str) -> None:
    from lightdom_tui.safetext import one_line

    line = one_line(message)
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 1] + "…"
    typer.echo(f"error: {line}", err=True)


class _LightdomGroup(TyperGroup):
    """Root group: numbers bounded at parse time; expected failures become one stderr line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _bound_numbers(self)

    def invoke(self, ctx: Any) -> Any:  # noqa: D102 - click signature
        argv = [*(getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])), *ctx.args]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, UsageFailure):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise typer.Exit(1) from None  # the reader went away: nothing to say, nowhere to say it
            line = _error_line(exc, ctx, argv)
            if line is None or os.environ.get(DEBUG_ENV):
                raise
            _say(line)
            raise typer.Exit(1) from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # noqa: D102 - click signature
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageFailure as exc:
            usage_ctx = getattr(exc, "ctx", None)
            hint = f" (see `{usage_ctx.command_path} --help`)" if usage_ctx is not None else ""
            _say(f"{exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        except typer.Abort:
            _say("aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


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
