"""The configured destinations, as every command that reaches them opens and reports them.

`push`, `forget`, `consent --pull` and `serve` (erasure requests) all open a destination
from its `[destinations.<name>]` section the same way, and `push` and `consent --pull`
show the read of every destination's opt-outs (`clientela.destinations.read_first`) in the
same table: here, so that no command module imports another.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from rich.table import Table

from clientela.cli.common import UserError, console, workspace
from clientela.config import plugin_config
from clientela.destinations.api import Destination, Opener
from clientela.destinations.read_first import BUSY, FAILED, ReadOutcome
from clientela.plugins import registry


def open_destination(name: str) -> Destination:
    spec = registry().get("destination", name)
    section = workspace.settings.destinations.get(name)
    if section is None:
        raise UserError(f"no [destinations.{name}] section in the configuration; see the "
                        f"{name} plugin's README for its settings")
    config = plugin_config(spec.config, section, f"destinations.{name}")
    opened: Destination = spec.open(config)
    return opened


def configured_destinations() -> dict[str, Opener]:
    """An opener for each destination with a configuration section and an installed plugin,
    in the configuration's order (each opened only when called)."""
    installed = registry().destinations
    return {name: partial(open_destination, name)
            for name in workspace.settings.destinations if name in installed}


def print_reads(outcomes: Sequence[ReadOutcome], title: str) -> None:
    """One row per destination read (`clientela.destinations.read_first`)."""
    table = Table(title=title)
    table.add_column("destination")
    table.add_column("outcome")
    table.add_column("consent events learned", justify="right")
    table.add_column("detail")
    colours = {FAILED: "red", BUSY: "yellow"}
    for outcome in outcomes:
        colour = colours.get(outcome.status, "green")
        table.add_row(outcome.destination, f"[{colour}]{outcome.status}[/]",
                      f"{outcome.learned:,}", outcome.error or "")
    console.print(table)
