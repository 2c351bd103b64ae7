"""The `clientela` command line.

Every command is a thin layer over the Python API: the same function a
script would call does the work, and the CLI adds flags, progress bars and
errors a person can act on.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from clientela import __version__, plugins
from clientela.cli import (
    campaign,
    clv,
    consent,
    data_commands,
    journeys,
    kpi,
    messages,
    plugin_commands,
    push,
    segments,
    serve,
)
from clientela.cli import export as export_commands
from clientela.cli import identity as identity_commands
from clientela.cli import report as report_command
from clientela.cli import run as run_commands
from clientela.cli import workspaces as workspaces_commands
from clientela.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    UserError,
    err_console,
    plain_metavars,
    report_error,
    show_connector_notices,
    workspace,
)
from clientela.config import ConfigError, describe_validation_error
from clientela.http.errors import service_errors
from clientela.store import StoreError
from clientela.store.store import StorePathError

app = typer.Typer(
    name="clientela",
    help="Retail CRM on your own machine: import customers and orders, compute the KPIs, "
    "segment, and push segments to the tools you use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clientela {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration file (default: ./clientela.toml).",
                     envvar="CLIENTELA_CONFIG"),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Store file, overriding the configuration.")
    ] = None,
    plugin: Annotated[
        list[str] | None,
        typer.Option("--plugin", help="Load a plugin module that is not installed (module.path)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    workspace_name: Annotated[str | None, typer.Option(
        "--workspace", "-w", help="Run the command for this client workspace of the agency file "
        "(clientela-agency.toml; see `clientela workspaces`).")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    workspace.config_file = config
    workspace.store_override = store
    workspace.debug = debug
    for module in plugin or []:
        plugins.add_local_plugin(module)
    workspaces_commands.select_workspace(workspace_name)


for commands in (data_commands, plugin_commands, kpi, segments, clv, push, consent, serve,
                 journeys, campaign, messages):
    commands.register(app)
report_command.register(app)
for commands in (workspaces_commands, run_commands, export_commands):
    commands.register(app)
identity_commands.register(app)

USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError, ConfigError, StorePathError, FileNotFoundError)
"""Exit 2. Not `LookupError`: a `KeyError` or `IndexError` is a bug; what the user named
and does not exist raises `clientela.errors.NotFound`, a `UserError`."""
FAILURES: tuple[type[BaseException], ...] = (Failure, StoreError, OSError)


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """What a file or value the user handed in raises when it is not what it claims to be
    (a CSV named .parquet, bytes that are not UTF-8, a rule comparing money with 'abc')."""
    import duckdb
    import pyarrow

    return (UnicodeError, pyarrow.ArrowInvalid, duckdb.ConversionException)


def _inputs(args: list[str]) -> str:
    """The files and rules named on the command line, to say which input was at fault."""
    named = [f"--rule {args[i + 1]!r}" for i, a in enumerate(args[:-1]) if a == "--rule"]
    named += [a for i, a in enumerate(args) if not a.startswith("-") and Path(a).is_file()
              and not (i and args[i - 1].startswith("-") and "=" not in args[i - 1])]
    return ", ".join(named)


def _without_debug(args: list[str]) -> tuple[list[str], bool]:
    """`--debug` anywhere before `--`: errors suggest adding it to the command just run."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != "--debug"] + args[end:]
    return kept, len(kept) != len(args)


def _local_plugins(args: list[str]) -> list[str]:
    """The `--plugin` values on the command line, read before typer parses it.

    A local plugin may add commands, and those must exist before parsing.
    """
    found: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--plugin" and index + 1 < len(args):
            found.append(args[index + 1])
        elif arg.startswith("--plugin="):
            found.append(arg.split("=", 1)[1])
    return found


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns errors into one line and an exit code."""
    args, debug = _without_debug(sys.argv[1:] if argv is None else list(argv))
    if debug:
        args = ["--debug", *args]
    show_connector_notices()
    try:
        for module in _local_plugins(args):
            plugins.add_local_plugin(module)
        command = typer.main.get_command(app)
        if not plugin_commands.names_a_builtin_command(command, args):
            plugins.add_plugin_commands(app)
            command = typer.main.get_command(app)
        plain_metavars(command)
        # click's standalone mode reports usage errors itself (exit 2) and ends with SystemExit
        command(args=args, prog_name="clientela")
    except SystemExit as done:
        # only 0, 1 and 2 leave clientela (a library calling sys.exit(3) is still a failure)
        code = 0 if done.code is None else done.code
        return code if code in (EXIT_OK, EXIT_FAILURE, EXIT_USAGE) else EXIT_FAILURE
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return EXIT_FAILURE
    except USER_ERRORS as error:
        _fail(error, args)
        return EXIT_USAGE
    except FAILURES as error:
        _fail(error, args)
        return EXIT_FAILURE
    except ValidationError as error:
        # never str(error): pydantic repeats the input, and the input may hold a token
        _fail(ConfigError(describe_validation_error(error, error.title)), args)
        return EXIT_USAGE
    except Exception as error:
        if isinstance(error, service_errors()):  # a service unreachable or failing: exit 1
            _fail(error, args)
            return EXIT_FAILURE
        if isinstance(error, _bad_input_errors()):
            named = _inputs(args)
            _fail(UserError(f"{named}: {error}" if named else str(error)), args)
            return EXIT_USAGE
        _fail(error, args, unexpected=True)
        return EXIT_FAILURE
    return 0


def _fail(error: BaseException, args: list[str], *, unexpected: bool = False) -> None:
    debug = workspace.debug or "--debug" in args
    if debug:
        err_console.print(traceback.format_exc(), highlight=False, markup=False)
    report_error(error)
    if unexpected and not debug:
        err_console.print("this looks like a bug in clientela; run again with --debug for details")


if __name__ == "__main__":
    raise SystemExit(main())
