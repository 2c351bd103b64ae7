"""A local plugin adding a `hold` command: a scheduled job that stays busy until told to stop.

It writes STARTED next to the gate file, then waits for the gate to exist, so a
test can kill the run, or start a second one, while the job is certainly running.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from clientela.hookspecs import hookimpl


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    @cli.command(name="hold")
    def hold(gate: Path, seconds: float = 30.0) -> None:
        """Wait until GATE exists (at most SECONDS), then succeed."""
        gate.with_name(gate.name + ".started").write_text("started", encoding="utf-8")
        deadline = time.monotonic() + seconds
        while not gate.exists():
            if time.monotonic() > deadline:
                raise SystemExit(1)
            time.sleep(0.05)
