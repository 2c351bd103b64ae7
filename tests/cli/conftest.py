"""Run `clientela` in-process as a person would, capturing everything it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

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
