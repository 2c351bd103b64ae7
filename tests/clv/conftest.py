"""Where the CDNOW files are: inside the installed ``lifetimes`` wheel, found without importing it.

lifetimes is archived and fails to import with current pandas, but its wheel
still ships the CDNOW sample; only its data files are read, never its code.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from clientela.clv import RfmSummary


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
