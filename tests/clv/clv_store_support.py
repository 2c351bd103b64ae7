"""Helpers the CLV engine tests share: the CDNOW periods and a metric context on a store.

A module of its own, not conftest.py: `from conftest import ...` would find
whichever test folder's conftest was imported first.
"""

from __future__ import annotations

from datetime import datetime

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
