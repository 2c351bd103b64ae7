"""Every test runs in its own folder with only the core's plugins loaded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela import plugins
from clientela.cli.common import workspace
from clientela.kpi import sql_keep


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    for name in list(os.environ):
        if name.startswith("CLIENTELA_") and name != plugins.LOAD_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv(sql_keep.ENV, str(tmp_path_factory.mktemp("sql-keep")))  # not ~/.cache
    plugins.reset(forget_local=True)
    saved = (workspace.config_file, workspace.store_override, workspace.debug, workspace._settings)
    yield
    workspace.config_file, workspace.store_override, workspace.debug, workspace._settings = saved
    plugins.reset(forget_local=True)


@pytest.fixture
def app_commands_restored() -> Iterator[None]:
    """For a test whose plugin adds commands to the process-wide CLI app: afterwards they
    leave it (commands and sub-apps alike), so later tests (the CLI reference, say) see only
    what is installed."""
    from clientela.cli.app import app

    commands, groups = list(app.registered_commands), list(app.registered_groups)
    added = set(plugins._commands_added)
    yield
    app.registered_commands[:] = commands
    app.registered_groups[:] = groups
    plugins._commands_added.intersection_update(added)
    plugins.reset(forget_local=True)
