"""Fixtures for the connector tests: fake platforms on 127.0.0.1, a store, a sleep recorder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.testing.source_contract import Sleeps

from .fakes.data import StoreData, generate
from .fakes.woocommerce import FakeWooCommerce

__all__ = ["Sleeps"]


@pytest.fixture
def store_data() -> StoreData:
    return generate(customers=400, orders=3_000)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def woo(store_data: StoreData) -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce(store_data) as fake:
        yield fake


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "clientela.duckdb"
