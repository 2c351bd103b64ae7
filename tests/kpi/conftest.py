from __future__ import annotations

from pathlib import Path

import pytest
from _kpi_fixtures import basic_records, build_store, catalog

from clientela.metrics.api import Metric
from clientela.store import Store


@pytest.fixture
def metrics() -> dict[str, Metric]:
    return catalog()


@pytest.fixture
def basic_store(tmp_path: Path) -> Store:
    customers, orders = basic_records()
    store = build_store(tmp_path / "basic.duckdb", customers, orders)
    yield store
    store.close()
