"""Fixtures of the warm tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _warm_fixtures import RecordingCache, build

from clientela.kpi import engine
from clientela.store import Store


@pytest.fixture
def recording_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The warm fixtures' store (`build`), whose engine calls make RecordingCaches."""
    monkeypatch.setattr(engine, "TableCache", RecordingCache)
    opened = build(tmp_path / "warm.duckdb")
    yield opened
    opened.close()
