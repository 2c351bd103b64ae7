"""Every test runs in its own folder with the core's plugins and this one only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela import plugins
from clientela.cli.common import workspace


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("CLIENTELA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-loyalty")
    plugins.reset(forget_local=True)
    saved = (workspace.config_file, workspace.store_override, workspace.debug, workspace._settings)
    yield
    workspace.config_file, workspace.store_override, workspace.debug, workspace._settings = saved
    plugins.reset(forget_local=True)
