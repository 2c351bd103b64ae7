"""Every metric compiles to PostgreSQL, and no division in it is between integers (PostgreSQL
truncates those). No server is needed: the expressions are compiled, not run."""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.operations as ops
import pytest
from _kpi_fixtures import OWN, catalog

from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.store import Store

METRICS = catalog()


@pytest.mark.parametrize("name", sorted(OWN))
@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_compiles_for_postgres(basic_store: Store, name: str, by: str | None) -> None:
    from clientela.model import MarketingSpend, OrderLine

    basic_store.upsert([OrderLine(source="t", order_id="o1", line_id="1", quantity=1,
                                  unit_price=1, total=1)])
    basic_store.upsert([MarketingSpend(source="t", day=datetime(2025, 1, 1).date(),
                                       channel="online", amount=1)])
    metric = METRICS[name]
    if by is not None and by not in metric.slices:
        pytest.skip(f"{name} does not slice by {by}")
    backend = basic_store.ibis()
    period = Period(datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 1, 1),
                    datetime(2025, 2, 1), "2025-01")
    ctx = MetricContext(backend=backend, period=period, as_of=period.end_utc, timezone="UTC",
                        currency="BRL", metric=name, by=by, cache=TableCache(backend))
    expr = metric.compute(ctx, metric.params())
    sql = str(ibis.to_sql(expr, dialect="postgres"))
    assert "SELECT" in sql
    for division in expr.op().find(ops.Divide):
        # at least one side is float or decimal, so PostgreSQL does not truncate
        kinds = (division.left.dtype, division.right.dtype)
        assert any(k.is_floating() or k.is_decimal() for k in kinds), (name, kinds)
