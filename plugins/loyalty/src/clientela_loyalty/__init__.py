"""clientela-loyalty: a loyalty programme engine for stores whose platform keeps no ledger.

`clientela loyalty run` turns the store's own orders into a points ledger
(`loyalty_events` rows with source `loyalty`), so the `loyalty_*` metrics,
the `loyalty` segmenter and the audiences work for every store. Rules come
from the `[loyalty]` section of clientela.toml (see README.md).

The hooks keep their imports inside, so `clientela --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from clientela.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from clientela.segments.api import Segmenter

__version__ = "0.1.0"


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    from clientela_loyalty.cli import loyalty_app

    cli.add_typer(loyalty_app, name="loyalty")


@hookimpl
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    from clientela_loyalty.segmenter import LOYALTY_SEGMENTER

    register(LOYALTY_SEGMENTER)
