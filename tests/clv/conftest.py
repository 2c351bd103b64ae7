"""CDNOW for the model and the engine tests: its published summary, its orders, a store of them.

The CDNOW files are inside the installed ``lifetimes`` wheel, found without
importing it: lifetimes is archived and fails to import with current pandas,
but its wheel still ships the CDNOW sample; only its data files are read,
never its code (a test-only dependency, see tests/clv/REQUIREMENTS.txt).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from clientela.clv import RfmSummary
from clientela.clv.engine.synthetic import orders_table, write_orders
from clientela.store import Store


def _datasets_dir() -> Path | None:
    spec = importlib.util.find_spec("lifetimes")  # finds the package, does not run it
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "datasets"
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    folder = _datasets_dir()
    if folder is None:
        pytest.skip(
            "the CDNOW data come with the lifetimes wheel; install it "
            "(pip install -r tests/clv/REQUIREMENTS.txt) to run the literature checks"
        )
    return folder


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_dir: Path) -> RfmSummary:
    """The 2,357-customer CDNOW calibration summary in weeks, with repeat buyers' mean spend."""
    data = np.loadtxt(
        cdnow_dir / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1
    )
    return RfmSummary(frequency=data[:, 1], recency=data[:, 2], age=data[:, 3], monetary=data[:, 4])


@pytest.fixture(scope="session")
def cdnow_orders(cdnow_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CDNOW sample orders as (customer, day number, amount)."""
    data = np.loadtxt(cdnow_dir / "CDNOW_sample.txt", dtype=str)
    customer = data[:, 1].astype(np.int64)
    days = np.array(
        [date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal() for d in data[:, 2]],
        dtype=np.float64,
    )
    return customer, days, data[:, 4].astype(np.float64)


@pytest.fixture(scope="session")
def cdnow_store(tmp_path_factory: pytest.TempPathFactory, cdnow_dir: Path) -> Iterator[Store]:
    """CDNOW's orders in a store, each at noon UTC of its day, amounts in cents; customer ids
    as the file writes them."""
    data = np.loadtxt(cdnow_dir / "CDNOW_sample.txt", dtype=str)
    days = np.array([date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal() for d in data[:, 2]],
                    dtype=np.int64)
    epoch_days = days - date(1970, 1, 1).toordinal()
    placed_us = (epoch_days * 86_400 + 12 * 3600).astype(np.int64) * 1_000_000
    amount_cents = np.round(data[:, 4].astype(np.float64) * 100).astype(np.int64)
    store = Store(tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb")
    write_orders(store, orders_table(data[:, 1], placed_us, amount_cents))
    yield store
    store.close()
