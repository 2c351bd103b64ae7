"""`clientela plugins`: what is installed, what each registers, what failed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import console
from clientela.plugins import plugin_set


def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every plugin with its version and what it registers."""
    pset = plugin_set()
    rows: list[dict[str, object]] = []
    for info in pset.plugins:
        registered = pset.registry.by_plugin(info.name)
        rows.append({
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "module": info.module,
            "registers": {kind: sorted(names) for kind, names in sorted(registered.items())},
        })
    failures = [{"plugin": p.plugin, "error": p.message} for p in pset.failures]
    if as_json:
        typer.echo(json.dumps({"plugins": rows, "problems": failures}, indent=2))
        return
    table = Table("plugin", "version", "registers")
    for info in pset.plugins:
        registered = pset.registry.by_plugin(info.name)
        what = "\n".join(f"{kind}s: {', '.join(sorted(names))}"
                         for kind, names in sorted(registered.items()))
        table.add_row(info.name, info.version or "local", what or "(nothing)")
    console.print(table)
    for failure in failures:
        console.print(f"[red]problem[/] in {failure['plugin']}: {failure['error']}", markup=True,
                      highlight=False)


def names_a_builtin_command(command: Any, args: Sequence[str]) -> bool:
    """Whether the command line `args` runs one of the core's own commands (`kpi`, `report`,
    ...), read before parsing: then no plugin needs discovering to build the command tree,
    and a `clientela kpi revenue` imports no connector, destination or channel package.
    Without a command (`clientela --help`) or with an unknown one, the plugins' commands
    are added first, so they are listed and found."""
    takes_value = {opt for param in command.params  # the built click group's options
                   if param.param_type_name == "option" and not param.is_flag
                   and not param.count for opt in (*param.opts, *param.secondary_opts)}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return False
        if arg.startswith("-"):
            index += 2 if arg in takes_value else 1
            continue
        # `clientela plugins` reports every plugin, a failing register_commands included
        return arg in command.commands and arg != "plugins"
    return False


def register(app: typer.Typer) -> None:
    app.command()(plugins)
