"""The hooks a clientela plugin implements.

Each hook hands the plugin a `register` callback (the pattern of simonw's
llm): the plugin calls it once per thing it adds, and the core checks the
type and the name, reports clashes and keeps the first registration. The
built-in metrics, sources and segmenters arrive through these same hooks,
from the core's own entry point. Every hook is documented, with an example,
in docs/plugin_hooks.md. `reaches_people` is no hook: it marks a command (a
plugin's through `register_commands`, or a built-in one) that messages people,
so that `clientela run` reads every destination's opt-outs before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pluggy

if TYPE_CHECKING:
    import typer

    from clientela.channels.api import Channel
    from clientela.destinations.api import DestinationSpec
    from clientela.metrics.api import Metric
    from clientela.segments.api import Segmenter
    from clientela.sources.api import SourceSpec

PROJECT = "clientela"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

REACHES_PEOPLE = "clientela_reaches_people"
"""The attribute `reaches_people` sets on a command's function."""
Command = TypeVar("Command", bound=Callable[..., object])


@hookspec
def register_metrics(register: Callable[[Metric], None]) -> None:
    """Add KPIs to the catalogue: call `register(Metric(...))` for each."""


@hookspec
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    """Add sources of records (store platforms, files): `register(SourceSpec(...))`."""


@hookspec
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    """Add destinations that receive segments: `register(DestinationSpec(...))`."""


@hookspec
def register_channels(register: Callable[[Channel], None]) -> None:
    """Add contact channels (SMS, WhatsApp, ...): `register(Channel(...))`."""


@hookspec
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    """Add ways to segment customers: `register(Segmenter(...))`."""


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the `clientela` CLI: `@cli.command()` or `cli.add_typer(...)`.

    Called once per process, before the command line is parsed, so a plugin's
    command appears in `--help` and runs like a built-in one. A plugin that
    adds commands should keep its heavy imports inside the command functions:
    every invocation of the CLI calls this hook.
    """


def reaches_people(command: Command) -> Command:
    """Mark a command added through `register_commands` (or a built-in one) as one that
    messages people or pushes to a destination, hence decides on consent: when it is
    scheduled, `clientela run` reads every configured destination's opt-outs before it, as
    before a push, so an unsubscribe made anywhere reaches it in the same run. Put it
    under `@cli.command(...)`; the built-in `journeys run` and `campaign send` carry it too.
    """
    setattr(command, REACHES_PEOPLE, True)
    return command


def marked_reaching_people(command: object) -> bool:
    """Whether `command` (a command's function, or a wrapper of it) carries `reaches_people`."""
    while command is not None:
        if getattr(command, REACHES_PEOPLE, False) is True:
            return True
        command = getattr(command, "__wrapped__", None)
    return False
