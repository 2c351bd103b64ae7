"""The catalogue loads `clientela.metrics.clv` on every `kpi` call; the CLV engine and scipy
(about a quarter of a second of CPU) are loaded only when a CLV metric is computed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clientela import clv
from clientela.clv.engine.synthetic import orders_table, write_orders
from clientela.clv.models import bgnbd
from clientela.store import Store

CHILD = """
import sys
from clientela.kpi import compute
from clientela.store import Store
with Store(sys.argv[1]) as store:
    result = compute(store, sys.argv[2].split(","), start="2024-01-01", end="2024-07-01")
print(result.value(sys.argv[2].split(",")[0]) is not None, "scipy" in sys.modules)
"""


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lazy") / "store.duckdb"
    # a BG/NBD process with CDNOW's parameters (in days): 300 customers over 2024's first half
    sim = clv.simulate_orders(300, age=np.full(300, 180.0), r=0.243, alpha=30.9, a=0.793,
                              b=2.426, p=6.25, q=3.74, gamma=15.44, seed=1)
    day = np.floor(sim.time).astype(np.int64)
    placed_us = ((day + 19_723) * 86_400 + 12 * 3_600) * 1_000_000  # day 0 = 1 January 2024
    ids = np.char.add("c", sim.customer.astype(str))
    cents = np.maximum(np.round(sim.amount * 100), 1).astype(np.int64)
    with Store(path) as store:
        write_orders(store, orders_table(ids, placed_us, cents))
    return path


def child(path: Path, metrics: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), metrics],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_kpi_call_without_clv_metrics_does_not_load_scipy(store_path: Path) -> None:
    assert child(store_path, "revenue,orders,rfm_segments") == "True False"


def test_a_clv_metric_loads_it(store_path: Path) -> None:
    assert child(store_path, "p_alive") == "True True"


def test_the_package_names_load_on_first_use() -> None:
    assert clv.fit_bgnbd is bgnbd.fit_bgnbd
    from clientela.clv import ClvFitError, RfmSummary  # the `from` form too

    assert issubclass(ClvFitError, ValueError) and RfmSummary.__name__ == "RfmSummary"
    with pytest.raises(AttributeError, match="fit_nothing"):
        clv.fit_nothing  # noqa: B018
