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
