"""A KPI call looks each store table up once, however many metrics and periods read it: a
lookup describes the table and parses its types, which cost more than the queries of a
warm recompute (a few periods of every metric)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from _warm_fixtures import TIMEZONE, build

from clientela.kpi import compute

ASKED = ["revenue", "new_customers", "repeat_rate", "active_customers"]
"""Metrics that read orders, first orders, histories and (sliced) customers."""


def test_each_table_is_looked_up_once_per_call(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with build(tmp_path / "store.duckdb") as store:
        backend = store.ibis()
        looked_up: Counter[str] = Counter()
        original = type(backend).table

        def counting(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
            looked_up[name] += 1
            return original(self, name, *args, **kwargs)

        monkeypatch.setattr(type(backend), "table", counting)
        result = compute(backend, ASKED, start="2024-01", end="2024-03", grain="month",
                         timezone=TIMEZONE, by="acquisition_channel")
    assert looked_up["orders"] == 1
    assert looked_up["customers"] <= 1
    assert max(looked_up.values()) == 1
    # every metric answered every month
    assert {row["metric"] for row in result.rows()} >= {"revenue", "repeat_rate",
                                                         "active_customers"}
    assert {row["period"] for row in result.rows()} == {"2024-01", "2024-02"}
