"""CDNOW (January 1997 to June 1998) as a test data set for the whole catalogue, run through
the CLI: no metric may assume when a store's history begins.

The CDNOW sample (6,919 orders of 2,357 customers who first bought in the first quarter of
1997) comes with the lifetimes wheel, read as tests/clv reads it: data files only. Each
order is placed at noon UTC of its day; the workspace time zone is UTC. Expected values are
computed here with numpy, independently of the engine.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from clientela import plugins
from clientela.clv.engine.synthetic import orders_table, write_orders
from clientela.store import Store


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("lifetimes")  # locates the wheel without importing it
    if spec is None or spec.origin is None:
        pytest.skip("the CDNOW data come with the lifetimes wheel (requirements-dev.txt)")
    data = np.loadtxt(Path(spec.origin).parent / "datasets" / "CDNOW_sample.txt", dtype=str)
    days = np.array([date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal() for d in data[:, 2]])
    return data[:, 1], days, data[:, 4].astype(np.float64)


@pytest.fixture(scope="module")
def store(cdnow: tuple[np.ndarray, np.ndarray, np.ndarray],
          tmp_path_factory: pytest.TempPathFactory) -> str:
    ids, days, amount = cdnow
    placed_us = ((days - date(1970, 1, 1).toordinal()) * 86_400 + 12 * 3600).astype(
        np.int64) * 1_000_000
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb"
    with Store(path) as opened:
        write_orders(opened, orders_table(ids, placed_us, np.round(amount * 100).astype(np.int64)))
    return str(path)


def _kpi(run, store: str, *args: str) -> list[dict]:
    ran = run("--store", store, "kpi", *args, "--format", "json")
    assert ran.exit_code == 0, ran.output[-3000:]
    return json.loads(ran.out)


def _month(ordinal: int) -> str:
    day = date.fromordinal(int(ordinal))
    return f"{day.year:04d}-{day.month:02d}"


def test_every_metric_the_orders_allow_runs_on_1997_data(run, store: str) -> None:
    names = [m.name for m in plugins.registry().metrics.values() if set(m.needs) <= {"orders"}]
    assert len(names) >= 20
    rows = _kpi(run, store, *names, "--from", "1997-01", "--to", "1998-07")
    assert {r["metric"] for r in rows} == set(names)


def test_monthly_revenue_matches_numpy(run, store: str, cdnow) -> None:
    _, days, amount = cdnow
    cents = np.round(amount * 100).astype(np.int64)
    expected: Counter[str] = Counter()
    for day, value in zip(days, cents, strict=True):
        expected[_month(day)] += int(value)
    rows = _kpi(run, store, "revenue", "--grain", "month", "--from", "1997-01", "--to", "1998-07")
    assert {r["period"]: round(r["value"] * 100) for r in rows} == dict(expected)


def test_avg_frequency_and_its_best_month(run, store: str, cdnow) -> None:
    ids, days, _ = cdnow
    rows = _kpi(run, store, "avg_frequency", "--from", "1997-01", "--to", "1998-07")
    values = {(r["item"], r["measure"]): r["value"] for r in rows}
    assert values[(None, "value")] == pytest.approx(len(ids) / len(set(ids)))
    by_month = Counter(_month(d) for d in days)
    best, count = max(sorted(by_month.items()), key=lambda kv: kv[1])
    assert values[(f"best_month {best}", "best_month_orders")] == count


def test_recency_is_calendar_days(run, store: str, cdnow) -> None:
    ids, days, _ = cdnow
    last: dict[str, int] = {}
    for customer, day in zip(ids, days, strict=True):
        last[customer] = max(last.get(customer, 0), int(day))
    as_of = date(1998, 7, 1).toordinal()
    expected = np.mean([as_of - d for d in last.values()])
    rows = _kpi(run, store, "recency_days", "--from", "1998-06", "--to", "1998-07")
    value = next(r["value"] for r in rows if r["item"] is None and r["measure"] == "value")
    assert value == pytest.approx(expected)


def test_cohort_retention_covers_the_whole_history(run, store: str, cdnow) -> None:
    ids, days, _ = cdnow
    first: dict[str, int] = {}
    months: dict[str, set[int]] = {}

    def index(ordinal: int) -> int:
        day = date.fromordinal(int(ordinal))
        return day.year * 12 + day.month - 1

    for customer, day in zip(ids, days, strict=True):
        first[customer] = min(first.get(customer, 10**9), int(day))
        months.setdefault(customer, set()).add(index(day))
    january = [c for c, d in first.items() if _month(d) == "1997-01"]
    start = index(date(1997, 1, 1).toordinal())
    rows = _kpi(run, store, "cohort_retention", "--from", "1997-01", "--to", "1998-07")
    cells = {r["item"]: r["value"] for r in rows if r["measure"] == "value"}
    # January 1997 to June 1998: k = 0..17 for the January cohort, nothing cut at 12
    assert sorted(k for k in cells if k.startswith("1997-01"))[-1] == "1997-01 +17"
    for k in (1, 12, 17):
        active = sum(1 for c in january if start + k in months[c])
        assert cells[f"1997-01 +{k:02d}"] == pytest.approx(active / len(january))
