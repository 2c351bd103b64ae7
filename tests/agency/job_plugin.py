"""A local plugin adding a `hold` command: a scheduled job that stays busy until told to stop.

It writes STARTED next to the gate file, then waits for the gate to exist, so a
test can kill the run, or start a second one, while the job is certainly running.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from clientela.hookspecs import hookimpl
from clientela.store import Store


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    @cli.command(name="hold")
    def hold(gate: Path, seconds: float = 30.0, store: Path | None = None) -> None:
        """Wait until GATE exists (at most SECONDS), then succeed. With STORE, log the wait as
        the job's own run there (kind `hold`), as a sync or a push logs itself."""
        run_id = None
        if store is not None:
            with Store(store) as opened:
                run_id = opened.start_run("hold", gate.name)
        gate.with_name(gate.name + ".started").write_text("started", encoding="utf-8")
        deadline = time.monotonic() + seconds
        while not gate.exists():
            if time.monotonic() > deadline:
                raise SystemExit(1)
            time.sleep(0.05)
        if store is not None and run_id is not None:
            with Store(store) as opened:
                opened.finish_run(run_id, "ok", {})
