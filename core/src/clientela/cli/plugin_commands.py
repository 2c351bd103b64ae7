"""`clientela plugins`: what is installed, what each registers, what failed."""

from __future__ import annotations

import json
from typing import Annotated

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


def register(app: typer.Typer) -> None:
    app.command()(plugins)
