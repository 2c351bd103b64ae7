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

from clientela import __version__, plugins
from clientela.cli import clv, data_commands, kpi, plugin_commands, push, segments, serve
from clientela.cli import export as export_commands
from clientela.cli import run as run_commands
from clientela.cli import workspaces as workspaces_commands
from clientela.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    Failure,
    UserError,
    err_console,
    report_error,
    workspace,
)
from clientela.config import ConfigError
from clientela.store import StoreError

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


for commands in (data_commands, plugin_commands, kpi, segments, clv, push, serve):
    commands.register(app)
for commands in (workspaces_commands, run_commands, export_commands):
    commands.register(app)

USER_ERRORS = (UserError, ConfigError, FileNotFoundError, LookupError)
FAILURES = (Failure, StoreError, OSError)


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
    args = sys.argv[1:] if argv is None else argv
    try:
        for module in _local_plugins(args):
            plugins.add_local_plugin(module)
        plugins.add_plugin_commands(app)
        # typer's standalone mode reports usage errors itself (exit 2) and ends with SystemExit
        app(args=args, prog_name="clientela")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return EXIT_FAILURE
    except USER_ERRORS as error:
        _fail(error, args)
        return EXIT_USAGE
    except FAILURES as error:
        _fail(error, args)
        return EXIT_FAILURE
    except Exception as error:
        _fail(error, args, unexpected=True)
        return EXIT_FAILURE
    return 0


def _fail(error: BaseException, args: list[str], *, unexpected: bool = False) -> None:
    if workspace.debug or "--debug" in args:
        err_console.print(traceback.format_exc(), highlight=False, markup=False)
    report_error(error)
    if unexpected and not workspace.debug:
        err_console.print("this looks like a bug in clientela; run again with --debug for details")


if __name__ == "__main__":
    raise SystemExit(main())
