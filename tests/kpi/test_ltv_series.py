"""ltv_historical as a series reads the period's orders of its cohort (one join), and the
cohort unsliced or by a customer dimension comes from each customer's first instant
(`first_order_times`) rather than the first order's row. Both must equal the definitions
as they were computed before (kept here as reference metrics: the cohort from
`first_orders`, its revenue from the customer x period history as of each period's end),
on the golden store, as a series and one period at a time, sliced and not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clientela.kpi import compute
from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN
from clientela.kpi.result import KpiResult
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.conformance import period_by_period

TZ = "America/Sao_Paulo"


def _cohort(ctx):  # type: ignore[no-untyped-def]
    return cv.in_period(ctx, cv.first_orders(ctx), "first_at")


def ltv_reference(ctx, params):  # type: ignore[no-untyped-def]
    cohort = cv.with_slice(ctx, _cohort(ctx)).select("customer_id", *ctx.keys)
    h = cv.history_at(ctx, at="as_of")
    h = h.select(_cid=h.customer_id, _revenue=h.revenue,
                 **({"_p": h[PERIOD_COLUMN]} if ctx.periods else {}))
    on = [cohort.customer_id == h._cid]
    if ctx.periods:
        on.append(cohort[PERIOD_COLUMN] == h._p)
    joined = cohort.left_join(h, on)
    total = cv.money_sum(joined._revenue)
    return cv.summarize(joined, ctx, value=cv.ratio(total, joined.count()),
                        customers=joined.count(), revenue=total)


def cac_new_customers_reference(ctx, params):  # type: ignore[no-untyped-def]
    """The acquired customers cac counts, from first_orders as before."""
    new = cv.with_slice(ctx, _cohort(ctx))
    return cv.summarize(new, ctx, value=new.count())


def cac_new_customers(ctx, params):  # type: ignore[no-untyped-def]
    """The acquired customers cac counts now (value.acquired)."""
    from clientela.metrics.value import acquired

    new = cv.with_slice(ctx, acquired(ctx))
    return cv.summarize(new, ctx, value=new.count())


def _rows(result: KpiResult, metric: str) -> set:
    by = result.by
    return {(r["period"], r[by] if by else None, r["measure"], r["value"])
            for r in result.rows() if r["metric"] == metric}


@pytest.mark.parametrize("by", [None, "channel", "acquisition_channel"])
@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_ltv_historical_equals_its_definition(
        clientela_golden_store: Store, metrics: dict[str, Metric], by: str | None,
        one_at_a_time: bool) -> None:
    ltv = metrics["ltv_historical"]
    references = [replace(ltv, name="ltv_reference", compute=ltv_reference),
                  replace(ltv, name="acquired", compute=cac_new_customers,
                          measures=("value",), slices=(*ltv.slices, "segment")),
                  replace(ltv, name="acquired_reference", compute=cac_new_customers_reference,
                          measures=("value",), slices=(*ltv.slices, "segment"))]
    catalog = {**metrics, **{m.name: m for m in references}}
    names: list = ["ltv_historical", *references]
    if one_at_a_time:
        names = period_by_period(names, catalog)
    found = compute(clientela_golden_store, names, catalog=catalog, start="2025-01",
                    end="2025-07", grain="month", timezone=TZ, by=by)
    answer = _rows(found, "ltv_historical")
    assert len(answer) >= 6 * 3  # value, customers and revenue every month
    assert answer == _rows(found, "ltv_reference")
    assert _rows(found, "acquired") == _rows(found, "acquired_reference")
    assert sum(v for _, _, m, v in _rows(found, "acquired")) > 0


