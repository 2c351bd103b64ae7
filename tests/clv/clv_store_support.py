"""Helpers the CLV engine tests share: the CDNOW periods, a metric context on a store, and
the comparison of a warm-started series with cold fits.

A module of its own, not conftest.py: `from conftest import ...` would find
whichever test folder's conftest was imported first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clientela.kpi import KpiResult
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.store import Store

CDNOW_CALIBRATION_END = datetime(1997, 10, 1)
"""Exclusive: the 39-week calibration period ends with 30 September 1997."""
CDNOW_HOLDOUT_END = datetime(1998, 7, 1)
"""Exclusive: weeks 40-78 end with 30 June 1998."""


def context(store: Store, as_of: datetime, timezone: str = "UTC") -> MetricContext:
    backend = store.ibis()
    return MetricContext(backend=backend, period=Period(as_of, as_of, as_of, as_of, "as_of"),
                         as_of=as_of, timezone=timezone, currency="BRL", metric="test",
                         cache=TableCache(backend))


WARM_TOLERANCE = {"se": 1e-6, "other": 1e-9}
"""How close a warm-started series must be to cold fits, relative. A warm and a cold fit
end at the same maximum polished to rounding (clientela.clv.models.fit): parameters,
log-likelihoods and the predictions made with them agree to about 1e-10. Standard errors
come from the analytic Hessian at the answer's point or at one at most 1e-7 from it (in
log-parameters; the last Newton step, too small to be worth its Hessian): they agree to
about 1e-7. Both bounds keep a factor 10."""
EXACT = ("customers", "likely_alive")
"""Counts: the same customers either way."""


def warm_vs_cold(warm: KpiResult, cold: KpiResult) -> dict[str, tuple[float, float]]:
    """Max (absolute, relative) difference per kind of measure ("se", "other") between
    two answers with the same rows; fails on a row only one has, a differing count, or a
    difference beyond `WARM_TOLERANCE`."""
    def keyed(result: KpiResult) -> dict[tuple[Any, ...], Any]:
        return {tuple((k, v) for k, v in row.items() if k != "value"): row["value"]
                for row in result.rows()}

    found, expected = keyed(warm), keyed(cold)
    assert found.keys() == expected.keys()
    worst = {"se": (0.0, 0.0), "other": (0.0, 0.0)}
    for key, value in found.items():
        measure = dict(key)["measure"]
        reference = expected[key]
        if measure in EXACT or reference is None or value is None:
            assert value == reference, (key, value, reference)
            continue
        kind = "se" if measure.endswith("_se") else "other"
        absolute = abs(value - reference)
        relative = absolute / abs(reference) if reference else absolute
        assert relative <= WARM_TOLERANCE[kind], (key, value, reference, relative)
        worst[kind] = (max(worst[kind][0], absolute), max(worst[kind][1], relative))
    return worst
