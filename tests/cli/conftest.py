"""Run `clientela` in-process as a person would, capturing everything it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from clientela import plugins
from clientela.cli.app import main
from clientela.cli.common import workspace


@dataclass
class Ran:
    exit_code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


Run = Callable[..., Ran]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("COLUMNS", "80")

    def invoke(*args: str) -> Ran:
        # a fresh invocation, as from a shell: nothing remembered from the previous one
        workspace.config_file = workspace.store_override = workspace._settings = None
        workspace.debug = False
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def demo_store(run: Run, tmp_path: Path) -> Path:
    """A small demo store made through the CLI, as a user's first command makes it."""
    store = tmp_path / "demo.duckdb"
    loaded = run("--store", str(store), "demo", "--customers", "30", "--orders", "120",
                 "--no-report")
    assert loaded.exit_code == 0, loaded.output
    return store


@pytest.fixture
def connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed connector distributions loaded, as outside the test run (the suite
    otherwise loads the built-ins only); skipped where the connectors are not installed."""
    monkeypatch.delenv(plugins.LOAD_ENV)
    plugins.reset(forget_local=True)
    found = plugins.registry().items
    if "shopify" not in found["source"] or "hubspot" not in found["destination"]:
        pytest.skip("the connectors are not installed")
