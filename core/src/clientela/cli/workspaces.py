"""`clientela --workspace NAME ...` and `clientela workspaces`: one agency, many client stores.

`select_workspace` is what the global `--workspace` option does: every command
then reads that client's settings (store, time zone, currency, sources,
destinations) instead of `clientela.toml`'s, so any command works per client.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from clientela.agency import history
from clientela.agency.workspaces import Agency, agency_path, load_agency, store_target
from clientela.cli.common import console, workspace
from clientela.config import ConfigError
from clientela.privacy import mask_text
from clientela.store import Store, StoreError
from clientela.store.postgres import is_postgres_url, mask_url

selected: str | None = None
"""The workspace chosen with `--workspace`, if any (read by `clientela run`)."""


def current_agency() -> Agency:
    return load_agency(agency_path(workspace.config_file))


def select_workspace(name: str | None) -> None:
    """Point the shared Workspace at one client's settings (or leave it alone if None)."""
    global selected
    selected = name
    if name is None:
        return
    workspace._settings = current_agency().settings_for(name)


def _last_run(store_path: Any) -> tuple[str, str, str]:
    """(job, outcome, when) of the newest scheduled run, read without disturbing a running one
    (`store_path` is a DuckDB file, or a PostgreSQL store's URL)."""
    if not is_postgres_url(store_path) and not store_path.exists():
        return "", "never run", ""
    try:
        with Store(store_path, read_only=True) as store:
            run = history.last_run(store)
    except StoreError:
        return "", "busy (store in use)", ""
    except Exception as error:  # an older store without a run log, or an unreadable file
        return "", f"unreadable: {mask_text(str(error))[:60]}", ""
    if run is None:
        return "", "never run", ""
    finished = run["finished_at"] or run["started_at"]
    return run["target"], run["status"], f"{finished:%Y-%m-%d %H:%M} UTC"


def workspaces_command() -> None:
    """List the agency's client workspaces and the outcome of each one's last scheduled run."""
    agency = current_agency()
    table = Table("workspace", "store", "time zone", "currency", "last job", "outcome", "at",
                  title=f"workspaces in {agency.path}")
    for name in agency.workspaces:
        try:
            settings = agency.settings_for(name).workspace
        except ConfigError as error:
            table.add_row(name, "", "", "", "", f"config error: {error}".splitlines()[0], "")
            continue
        target = store_target(agency.settings_for(name))
        job, outcome, when = _last_run(target)
        style = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(outcome, "")
        table.add_row(name, mask_url(str(target)), settings.timezone, settings.currency, job,
                      f"[{style}]{outcome}[/]" if style else outcome, when)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("workspaces")(workspaces_command)
