"""Stores for the CLV engine tests: CDNOW as orders, a small demo store, a simulated one.

The CDNOW files come with the lifetimes wheel (a test-only dependency, see
tests/clv/REQUIREMENTS.txt); the numpy reference summary lives beside the
model tests and is imported from there rather than copied.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from clientela.clv_engine.synthetic import orders_table, write_orders
from clientela.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clv"))
sys.path.insert(0, str(Path(__file__).resolve().parent))



@pytest.fixture(scope="session")
def cdnow_orders() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CDNOW sample orders: (customer id text, customer number, day ordinal, amount)."""
    spec = importlib.util.find_spec("lifetimes")  # locates the wheel without importing it
    if spec is None or spec.origin is None:
        pytest.skip("the CDNOW data come with the lifetimes wheel; pip install -r "
                    "tests/clv/REQUIREMENTS.txt")
    data = np.loadtxt(Path(spec.origin).parent / "datasets" / "CDNOW_sample.txt", dtype=str)
    days = np.array([date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal() for d in data[:, 2]],
                    dtype=np.float64)
    return data[:, 1], data[:, 1].astype(np.int64), days, data[:, 4].astype(np.float64)


@pytest.fixture(scope="session")
def cdnow_store(tmp_path_factory: pytest.TempPathFactory,
                cdnow_orders: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                ) -> Iterator[Store]:
    """CDNOW's orders in a store, each at noon UTC of its day, amounts in cents."""
    ids, _, days, amount = cdnow_orders
    epoch_days = days - date(1970, 1, 1).toordinal()
    placed_us = (epoch_days * 86_400 + 12 * 3600).astype(np.int64) * 1_000_000
    store = Store(tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb")
    write_orders(store, orders_table(ids, placed_us, np.round(amount * 100).astype(np.int64)))
    yield store
    store.close()
