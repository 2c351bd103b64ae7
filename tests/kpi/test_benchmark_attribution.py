"""The catalogue benchmark (`benchmarks/kpis.py`) charges each series metric the work of
building its own expression. The engine builds every series metric's expression before
any runs, and `clv_predicted` fits its models while its expression is built: counted from
the start of the call, that CPU landed on the first metric to run (`orders`), which made
the per-metric table point at the wrong metric."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import ibis
import pytest

from clientela.kpi import compute, engine
from clientela.kpi.context import PERIOD_COLUMN
from clientela.metrics import Metric

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "kpis.py"
WRAPPED = ("_series_expr", "_plan_series", "_run_series", "_run_many")
"""What the benchmark wraps in the engine module (put back after each test)."""


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_kpis", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _series_metric(name: str, seen: dict[str, str], follower: Any) -> Metric:
    """A series metric that records which metric the benchmark says holds the process
    while its expression is built."""

    def build(ctx: Any, params: Any) -> Any:
        seen[name] = follower.current
        return ibis.memtable({PERIOD_COLUMN: [0, 1], "value": [1.0, 2.0]})

    return Metric(name=name, title=name, title_pt=name, description=name, unit="count",
                  compute=build, needs=(), series=True)


def test_building_each_series_metric_is_charged_to_it(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    for name in WRAPPED:
        monkeypatch.setattr(engine, name, getattr(engine, name))
    follower = _benchmark().PeakRssByMetric()
    follower.follow(engine)
    planned: list[bool] = []
    follower.planned = lambda: planned.append(True)
    seen: dict[str, str] = {}

    result = compute(ibis.duckdb.connect(),
                     [_series_metric("first", seen, follower),
                      _series_metric("fitted", seen, follower)],
                     start="2025-01", end="2025-03", grain="month")

    assert seen == {"first": "first", "fitted": "fitted"}
    assert sorted(follower.planning_cpu) == ["first", "fitted"]
    assert all(seconds >= 0 for seconds in follower.planning_cpu.values())
    assert planned == [True]  # the first metric's CPU clock starts once planning ends
    assert sorted(r["value"] for r in result.rows()) == [1.0, 1.0, 2.0, 2.0]
