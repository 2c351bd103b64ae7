"""Fixtures for the push tests: the fake Mailchimp, a store, a sleep recorder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.testing.source_contract import Sleeps

from .fakes.mailchimp import FakeMailchimp
from .helpers import build_store

N = 1_200

__all__ = ["N", "Sleeps"]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def mailchimp() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as fake:
        yield fake


@pytest.fixture(scope="session")
def _template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("push") / "template.duckdb"
    build_store(path, N)
    return path


@pytest.fixture
def store_path(_template_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    path.write_bytes(_template_store.read_bytes())
    return path
