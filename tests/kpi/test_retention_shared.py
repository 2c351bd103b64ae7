"""retention_rate and churn_rate asked together share one table of per-period counts (the
base and the retained customers): each must equal its answer asked alone, and one period
at a time, on the golden store, sliced and not; and churn's counts are the complement of
retention's, period by period."""

from __future__ import annotations

import pytest

from clientela.kpi import compute
from clientela.kpi.result import KpiResult
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.conformance import period_by_period

TZ = "America/Sao_Paulo"
SPAN = {"start": "2025-01", "end": "2025-07", "grain": "month", "timezone": TZ}


def _rows(result: KpiResult, metric: str) -> set:
    by = result.by
    return {(r["period"], r[by] if by else None, r["measure"], r["value"])
            for r in result.rows() if r["metric"] == metric}


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_retention_and_churn_together_equal_each_alone(
        clientela_golden_store: Store, metrics: dict[str, Metric], by: str | None) -> None:
    together = compute(clientela_golden_store, ["retention_rate", "churn_rate"],
                       catalog=metrics, by=by, **SPAN)
    for name in ("retention_rate", "churn_rate"):
        alone = compute(clientela_golden_store, [name], catalog=metrics, by=by, **SPAN)
        one_by_one = compute(clientela_golden_store, period_by_period([name], metrics),
                             catalog=metrics, by=by, **SPAN)
        assert len(_rows(alone, name)) >= 6 * 3
        assert _rows(together, name) == _rows(alone, name) == _rows(one_by_one, name)
    kept = {(p, s): v for p, s, m, v in _rows(together, "retention_rate") if m == "retained"}
    lost = {(p, s): v for p, s, m, v in _rows(together, "churn_rate") if m == "churned"}
    base = {(p, s): v for p, s, m, v in _rows(together, "churn_rate")
            if m == "previous_active"}
    assert kept.keys() == lost.keys() == base.keys()
    assert all(kept[k] + lost[k] == base[k] for k in kept)
    assert any(v > 0 for v in kept.values())
