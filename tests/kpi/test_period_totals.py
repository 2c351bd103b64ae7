"""The simple sales metrics read one group-by of the period's valid orders
(`period_totals`, and `period_units` for items per order). Each must equal its definition
written as its own aggregate over the period's orders, as it was computed before (kept
here as reference metrics), on the golden store (cancelled, refunded and partially
refunded orders, orders in USD with an fx rate, guest checkouts), as a series and one
period at a time, sliced by an order and a customer dimension and not sliced."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clientela.kpi import compute
from clientela.kpi import conventions as cv
from clientela.kpi.result import KpiResult
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.conformance import period_by_period

TZ = "America/Sao_Paulo"


def orders_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=())
    return cv.summarize(o, ctx, value=o.count())


def revenue_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx)
    return cv.summarize(o, ctx, value=cv.money_sum(o.revenue))


def gross_sales_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=("gross",))
    return cv.summarize(o, ctx, value=cv.money_sum(o.gross))


def discount_total_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=("order_discount", "loyalty_value", "discount_value"))
    return cv.summarize(o, ctx, value=cv.money_sum(o.discount_value),
                        order_discounts=cv.money_sum(o.order_discount),
                        loyalty_discounts=cv.money_sum(o.loyalty_value))


def active_customers_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=())
    return cv.summarize(o, ctx, value=o.customer_id.nunique())


def aov_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx)
    return cv.summarize(o, ctx, value=cv.ratio(cv.money_sum(o.revenue), o.count()))


def purchase_frequency_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=())
    o = o.filter(o.customer_id.notnull())
    return cv.summarize(o, ctx, value=cv.ratio(o.count(), o.customer_id.nunique()))


def items_per_order_reference(ctx, params):  # type: ignore[no-untyped-def]
    o = cv.period_orders(ctx, amounts=())
    lines = ctx.table("order_lines")
    units = lines.group_by(_osource=lines.source, _oid=lines.order_id).aggregate(
        _units=lines.quantity.sum())
    joined = o.left_join(units, (o.source == units._osource) & (o.order_id == units._oid))
    return cv.summarize(joined, ctx,
                        value=cv.ratio(joined._units.sum().coalesce(0), joined.count()))


REFERENCES = {
    "orders": orders_reference, "revenue": revenue_reference,
    "gross_sales": gross_sales_reference, "discount_total": discount_total_reference,
    "active_customers": active_customers_reference, "aov": aov_reference,
    "purchase_frequency": purchase_frequency_reference,
    "items_per_order": items_per_order_reference,
}


def _references(metrics: dict[str, Metric]) -> list[Metric]:
    return [replace(metrics[name], name=f"{name}_reference", compute=fn)
            for name, fn in REFERENCES.items()]


def _rows(result: KpiResult, metric: str) -> set:
    by = result.by
    return {(r["period"], r[by] if by else None, r["measure"], r["value"])
            for r in result.rows() if r["metric"] == metric}


@pytest.mark.parametrize("by", [None, "channel", "acquisition_channel"])
@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_period_totals_answers_equal_their_definitions(
        clientela_golden_store: Store, metrics: dict[str, Metric], by: str | None,
        one_at_a_time: bool) -> None:
    references = _references(metrics)
    names: list = [*REFERENCES, *references]
    catalog = {**metrics, **{m.name: m for m in references}}
    if one_at_a_time:
        names = period_by_period(names, catalog)
    found = compute(clientela_golden_store, names, catalog=catalog, start="2025-01",
                    end="2025-07", grain="month", timezone=TZ, currency="BRL", by=by)
    for name in REFERENCES:
        answer = _rows(found, name)
        assert len(answer) >= 6, name  # every month answers (and every slice, sliced)
        assert answer == _rows(found, f"{name}_reference"), name



@pytest.mark.parametrize("name", ["aov", "purchase_frequency", "discount_total"])
def test_a_metric_asked_alone_equals_its_definition(
        clientela_golden_store: Store, metrics: dict[str, Metric], name: str) -> None:
    """Alone in a call, a metric's totals are a group-by of just the columns it names (not
    the shared table of every total): the same answer."""
    reference = replace(metrics[name], name=f"{name}_reference", compute=REFERENCES[name])
    span = {"start": "2025-01", "end": "2025-07", "grain": "month", "timezone": TZ,
            "by": "channel"}
    alone = compute(clientela_golden_store, [name], catalog=metrics, **span)
    expected = compute(clientela_golden_store, [reference],
                       catalog={**metrics, reference.name: reference}, **span)
    answer = {(p, s, m, v) for p, s, m, v in _rows(alone, name)}
    assert len(answer) >= 6
    assert answer == _rows(expected, reference.name)
