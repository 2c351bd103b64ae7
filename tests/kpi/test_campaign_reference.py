"""The campaign metrics, computed through their shared tables (`contacts`, `touch_orders`,
`converted_units`) and a join on runs of days, equal their definitions written plainly:
distinct customers counted with `count(DISTINCT ...)`, each touch joined with every valid
order of its customer inside its window (no runs of days), the credit ranked over every
contact, nothing shared. These references are the metrics as they were first written,
kept here so that a faster form can never change an answer.

The store reaches every branch: a customer touched twice by one campaign in a month and
by two campaigns, control groups, orders inside and outside the window (one exactly at
its end), cancelled and refunded orders and a partial refund, an order in the windows of
two touches, a customer without a record (a null acquisition channel), same-instant
touches, a window that runs past the series' end, and contacts after it (ROI).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import ibis
import pytest
from _fixtures_extra import campaign, customer, make_store, order, touch

from clientela.kpi import KpiResult, compute
from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.kpi.periods import Period
from clientela.metrics import campaigns
from clientela.metrics.api import Metric
from clientela.metrics.campaigns import Z95, _stacked, metrics, with_total
from clientela.store import Store
from clientela.testing.conformance import period_by_period

METRICS = {m.name: m for m in metrics()}
NAMES = ("campaign_reach", "campaign_conversion", "campaign_revenue", "campaign_roi",
         "campaign_lift")
SERIES: dict[str, Any] = {"start": "2025-03", "end": "2025-06", "grain": "month",
                          "timezone": "UTC"}


# -- the references ---------------------------------------------------------------------------

def _touches(ctx, control: bool | None = False):  # type: ignore[no-untyped-def]
    t = ctx.table("touches")
    t = t.filter(t.campaign_id.notnull())
    return t if control is None else t.filter(t.is_control == control)


def _pairs(ctx, touches, days: int):  # type: ignore[no-untyped-def]
    """Each touch with every valid order of its customer in [touch, touch + days)."""
    o = cv.valid_orders(ctx, amounts=("revenue",))
    o = o.filter(o.customer_id.notnull()).select(
        _ocid="customer_id", order_source="source", order_id="order_id", placed_at="placed_at",
        revenue="revenue")
    return touches.inner_join(o, [touches.customer_id == o._ocid,
                                  o.placed_at >= touches.occurred_at,
                                  o.placed_at < touches.occurred_at + ibis.interval(days=days)])


def _credited(ctx, days: int):  # type: ignore[no-untyped-def]
    """Every order with the contact it is credited to: the latest before it, ties to the
    greater touch_id."""
    pairs = _pairs(ctx, _touches(ctx), days)
    latest = ibis.window(group_by=[pairs.order_source, pairs.order_id],
                         order_by=[pairs.occurred_at.desc(), pairs.touch_id.desc()])
    pairs = pairs.mutate(_rank=ibis.row_number().over(latest))
    return pairs.filter(pairs._rank == 0)


def _item(ctx, table):  # type: ignore[no-untyped-def]
    return [*ctx.keys, cv.as_item(table.campaign_id)]


def reach_reference(ctx, params):  # type: ignore[no-untyped-def]
    t = cv.with_slice(ctx, cv.in_period(ctx, _touches(ctx), "occurred_at"))
    per = t.group_by(_item(ctx, t)).aggregate(value=t.customer_id.nunique(),
                                              contacts=t.count())
    return with_total(per, cv.summarize(t, ctx, value=t.customer_id.nunique(),
                                        contacts=t.count()))


def conversion_reference(ctx, params):  # type: ignore[no-untyped-def]
    t = cv.with_slice(ctx, cv.in_period(ctx, _touches(ctx), "occurred_at"))
    contacted = with_total(
        t.group_by(_item(ctx, t)).aggregate(n=t.customer_id.nunique()),
        cv.summarize(t, ctx, n=t.customer_id.nunique()))
    pairs = _pairs(ctx, t, params.attribution_days)
    converted = with_total(
        pairs.group_by(_item(ctx, pairs)).aggregate(c=pairs.customer_id.nunique()),
        cv.summarize(pairs, ctx, c=pairs.customer_id.nunique()))
    zero = ibis.literal(0, type="int64")
    sums = _stacked(ctx, contacted.select(*ctx.keys, "item", n=contacted.n, c=zero),
                    converted.select(*ctx.keys, "item", n=zero, c=converted.c))
    c = ibis.ifelse(sums.n > 0, sums.c, ibis.null("int64"))
    return sums.select(*ctx.keys, "item", value=cv.ratio(c, sums.n), contacted=sums.n,
                       converted=c)


def revenue_reference(ctx, params):  # type: ignore[no-untyped-def]
    c = _credited(ctx, params.attribution_days)
    c = cv.with_slice(ctx, cv.in_period(ctx, c, "occurred_at"))
    per = c.group_by(_item(ctx, c)).aggregate(value=cv.money_sum(c.revenue), orders=c.count())
    return with_total(per, cv.summarize(c, ctx, value=cv.money_sum(c.revenue),
                                        orders=c.count()))


def roi_reference(ctx, params):  # type: ignore[no-untyped-def]
    credited = _credited(ctx, params.attribution_days)
    earned = credited.group_by(_cid="campaign_id").aggregate(
        _revenue=cv.money_sum(credited.revenue))
    campaigns = cv.with_slice(ctx, cv.in_period(ctx, ctx.table("campaigns"), "started_at"))
    j = campaigns.left_join(earned, campaigns.campaign_id == earned._cid)
    j = j.mutate(revenue=j._revenue.coalesce(ibis.literal(0, type=cv.MONEY)))

    def roi(table):  # type: ignore[no-untyped-def]
        revenue, cost = cv.money_sum(table.revenue), cv.money_sum(table.cost)
        return {"value": cv.ratio(revenue - cost, cost), "revenue": revenue, "cost": cost}

    return with_total(j.group_by(_item(ctx, j)).aggregate(**roi(j)),
                      cv.summarize(j, ctx, **roi(j)))


def lift_reference(ctx, params):  # type: ignore[no-untyped-def]
    t = cv.with_slice(ctx, cv.in_period(ctx, _touches(ctx, control=None), "occurred_at"))
    ctl = t.is_control
    sizes = t.group_by(_item(ctx, t)).aggregate(
        n1=ibis.ifelse(ctl, ibis.null("string"), t.customer_id).nunique(),
        n0=ibis.ifelse(ctl, t.customer_id, ibis.null("string")).nunique())
    pairs = _pairs(ctx, t, params.attribution_days)
    unit = [*ctx.keys, "campaign_id", "customer_id", "is_control"]
    per_order = pairs.select(*unit, "order_source", "order_id", "revenue").distinct()
    u = per_order.group_by(unit).aggregate(revenue=per_order.revenue.sum())
    one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
    money_zero = ibis.literal(0, type=cv.MONEY)
    s1 = ibis.ifelse(u.is_control, money_zero, u.revenue)
    s0 = ibis.ifelse(u.is_control, u.revenue, money_zero)
    conv = u.group_by(_item(ctx, u)).aggregate(
        c1=ibis.ifelse(u.is_control, zero, one).sum(), c0=ibis.ifelse(u.is_control, one, zero).sum(),
        s1=s1.sum().cast("float64"), s0=s0.sum().cast("float64"),
        q1=(s1 * s1).sum().cast("float64"), q0=(s0 * s0).sum().cast("float64"))
    nothing = ibis.literal(0.0, type="float64")
    sums = _stacked(
        ctx,
        sizes.select(*ctx.keys, "item", n1=sizes.n1, n0=sizes.n0, c1=zero, c0=zero,
                     s1=nothing, s0=nothing, q1=nothing, q0=nothing),
        conv.select(*ctx.keys, "item", n1=zero, n0=zero, c1=conv.c1, c0=conv.c0, s1=conv.s1,
                    s0=conv.s0, q1=conv.q1, q0=conv.q0))
    sums = sums.filter(sums.n0 > 0)
    p1, p0 = cv.ratio(sums.c1, sums.n1), cv.ratio(sums.c0, sums.n0)
    m1, m0 = cv.ratio(sums.s1, sums.n1), cv.ratio(sums.s0, sums.n0)
    n1, n0 = sums.n1.cast("float64"), sums.n0.cast("float64")

    def var(s, q, n):  # type: ignore[no-untyped-def]
        spread = ibis.greatest(q - s * s / n, 0.0) / (n - 1.0)
        return ibis.ifelse(n < 2, ibis.null("float64"), spread)

    conv_se = ((p1 * (1.0 - p1)) / n1 + (p0 * (1.0 - p0)) / n0).sqrt()
    rev_se = (var(sums.s1, sums.q1, n1) / n1 + var(sums.s0, sums.q0, n0) / n0).sqrt()
    return sums.select(
        *ctx.keys, "item", value=p1 - p0, conversion_low=p1 - p0 - Z95 * conv_se,
        conversion_high=p1 - p0 + Z95 * conv_se, revenue_per_customer_lift=m1 - m0,
        revenue_low=m1 - m0 - Z95 * rev_se, revenue_high=m1 - m0 + Z95 * rev_se,
        contacted_conversion=p1, control_conversion=p0,
        contacted_revenue_per_customer=m1, control_revenue_per_customer=m0,
        contacted=sums.n1, control=sums.n0)


REFERENCES = {"campaign_reach": reach_reference, "campaign_conversion": conversion_reference,
              "campaign_revenue": revenue_reference, "campaign_roi": roi_reference,
              "campaign_lift": lift_reference}


def _reference(name: str) -> Metric:
    return replace(METRICS[name], name=f"{name}_reference", compute=REFERENCES[name])


# -- the store --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Campaigns A (email), B (sms) in March, C (push) in April; D in May (no control).
    The series is March to May.

    March: A touches c1 twice (the 3rd and the 5th); c1 buys on the 4th (one window), the
    6th (both) and the 12th at 10:00, exactly seven days after the 5th 10:00 (outside A's
    windows: they are half-open). B touches c1 on the 8th (the orders of the 9th and the
    12th go to B, the latest contact). A and B touch c2 at the same instant (B's greater
    touch_id takes the credit). c3 has no customer record. Controls k1 k2 k3 (k1's order is
    partly refunded, k2's cancelled, k3's refunded).
    April: A touches c4 twice in a day, c4's order is refunded (not valid); A's control k4
    buys inside the window. May: D touches c1 and c6 (c6 buys twice in the window); C
    touches c5 on the 29th, who buys on 2 June (after the series, inside the window) and
    on 20 June (outside), and its control k4, who buys on the 30th. July: A and B touch c6
    (ROI only), c6 buys after each.
    """
    records: list[Any] = [
        campaign("A", "2025-03-01", cost=100, channel="email"),
        campaign("B", "2025-03-02", cost=50, channel="sms"),
        campaign("C", "2025-04-02", cost=30, channel="push"),
        campaign("D", "2025-05-01", cost=0, channel="email"),
        customer("c1", acquisition_channel="organic"),
        customer("c2", acquisition_channel="paid_search"),
        customer("c4", acquisition_channel="organic"),
        customer("c5", acquisition_channel="referral"),
        customer("c6", acquisition_channel="organic"),
        customer("k1", acquisition_channel="organic"),
        customer("k2", acquisition_channel="paid_search"),
        customer("k3", acquisition_channel="organic"),
        customer("k4", acquisition_channel="referral"),
        touch("c1", "2025-03-03 10:00", campaign_id="A"),
        touch("c1", "2025-03-05 10:00", campaign_id="A"),
        touch("c1", "2025-03-08 10:00", campaign_id="B", channel="sms"),
        touch("c2", "2025-03-10 09:00", campaign_id="A", touch_id="t-a"),
        touch("c2", "2025-03-10 09:00", campaign_id="B", channel="sms", touch_id="t-b"),
        touch("c3", "2025-03-20 09:00", campaign_id="A"),
        touch("k1", "2025-03-03 10:00", campaign_id="A", is_control=True),
        touch("k2", "2025-03-03 10:00", campaign_id="A", is_control=True),
        touch("k3", "2025-03-04 10:00", campaign_id="A", is_control=True),
        touch("c4", "2025-04-07 09:00", campaign_id="A"),
        touch("c4", "2025-04-07 18:00", campaign_id="A"),
        touch("k4", "2025-04-07 09:00", campaign_id="A", is_control=True),
        touch("c5", "2025-05-29 09:00", campaign_id="C", channel="push"),
        touch("k4", "2025-05-29 09:00", campaign_id="C", channel="push", is_control=True),
        touch("c1", "2025-05-02 09:00", campaign_id="D"),
        touch("c6", "2025-05-02 09:00", campaign_id="D"),
        touch("c6", "2025-07-10 09:00", campaign_id="A"),
        touch("c6", "2025-07-11 09:00", campaign_id="B", channel="sms"),
        order("c1", "2025-03-04 10:00", 100),
        order("c1", "2025-03-06 10:00", 40),
        order("c1", "2025-03-09 10:00", 7),
        order("c1", "2025-03-12 10:00", 500),
        order("c2", "2025-03-12 10:00", 70),
        order("c3", "2025-03-21 10:00", 25),
        order("k1", "2025-03-05 10:00", 30, refunded_amount=10),
        order("k2", "2025-03-06 10:00", 999, status="cancelled"),
        order("k3", "2025-03-06 10:00", 45, status="refunded", refunded_amount=45),
        order("c4", "2025-04-08 10:00", 60, status="refunded", refunded_amount=60),
        order("k4", "2025-04-10 10:00", 15),
        order("k4", "2025-05-30 10:00", 16),
        order("c5", "2025-06-02 10:00", 80),
        order("c5", "2025-06-20 10:00", 81),
        order("c1", "2025-05-03 10:00", 9),
        order("c6", "2025-05-03 10:00", 11),
        order("c6", "2025-05-04 10:00", 12),
        order("c6", "2025-07-10 20:00", 13),
        order("c6", "2025-07-12 10:00", 14),
    ]
    return make_store(tmp_path_factory.mktemp("ref") / "s.duckdb", records)


def _rows(result: KpiResult, metric: str) -> list[tuple[Any, ...]]:
    """A metric's rows, its name cut from the reference's."""
    rows = [tuple(v for k, v in row.items() if k != "metric") for row in result.rows()
            if row["metric"] == metric]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("by", [None, "channel", "acquisition_channel"])
@pytest.mark.parametrize("how", ["together", "alone", "period by period"])
def test_each_metric_equals_its_plain_definition(store: Store, by: str | None,
                                                 how: str) -> None:
    names = [n for n in NAMES if by is None or by in METRICS[n].slices]
    catalog = {**METRICS, **{f"{n}_reference": _reference(n) for n in names}}
    references = compute(store, [f"{n}_reference" for n in names], catalog=catalog, by=by,
                         **SERIES)
    if how == "together":
        answers = dict.fromkeys(names, compute(store, names, catalog=catalog, by=by, **SERIES))
    elif how == "alone":
        answers = {n: compute(store, [n], catalog=catalog, by=by, **SERIES) for n in names}
    else:
        found = compute(store, period_by_period(names, catalog), by=by, **SERIES)
        answers = dict.fromkeys(names, found)
    for name in names:
        expected = _rows(references, f"{name}_reference")
        assert expected, name  # the store gives every metric rows
        assert _rows(answers[name], name) == expected, (name, how, by)


def test_the_store_reaches_the_branches(store: Store) -> None:
    """Hand-checked figures, so that the comparison above compares something: March,
    campaign A."""
    r = compute(store, list(NAMES), catalog=METRICS, **SERIES)
    assert r.value("campaign_reach", period="2025-03", item="A") == 3  # c1 c2 c3
    assert r.value("campaign_reach", "contacts", period="2025-03", item="A") == 4
    assert r.value("campaign_reach", period="2025-03") == 3  # c1 c2 c3 across A and B
    # A: c1 (the 4th, the 6th), c2 (the 12th), c3 (the 21st) all converted
    assert r.value("campaign_conversion", "converted", period="2025-03", item="A") == 3
    # last touch: c1's 4th and 6th to A (100 + 40), the 9th to B (7), the 12th 10:00 to
    # nobody (exactly 7 days after A's 5th, 4 days after B's 8th: B); c2's 70 to B (tie)
    assert r.value("campaign_revenue", period="2025-03", item="A") == 100 + 40 + 25
    assert r.value("campaign_revenue", period="2025-03", item="B") == 7 + 500 + 70
    # c5's order of 2 June is inside May's window of C; k4's of the 30th inside its control's
    assert r.value("campaign_conversion", "converted", period="2025-05", item="C") == 1
    assert r.value("campaign_lift", "control_conversion", period="2025-05", item="C") == 1
    # A's control in March: k1 (30 - 10 = 20 inside), k2 (cancelled), k3 (refunded)
    assert r.value("campaign_lift", "control", period="2025-03", item="A") == 3
    assert r.value("campaign_lift", "control_revenue_per_customer", period="2025-03",
                   item="A") == pytest.approx(20 / 3)


# -- windows across the runs of the join ------------------------------------------------------

@pytest.fixture(scope="module")
def runs_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Touches whose windows cross 13 March 2025 00:00 UTC, where a run of the touch x order
    join ends for windows of 3, 7 and 10 days (runs of four windows since the epoch), and
    the end of March, where a period ends. The series is March and April.

    r1: A at 12 March 10:00; orders at 12 March 23:59:59 and exactly at 13 March 00:00 (the
    next run, inside every window). r2: A at 6 March 00:00, whose 7-day window ends exactly
    where the run ends; orders at 12 March 23:59:59 (inside) and 13 March 00:00 (outside
    for 7 days, inside for 10). r3: A on the 10th and the 11th (overlapping windows of one
    campaign), B on the 12th, and orders on the 14th (in all three windows: credited to B,
    converting both) and the 17th at 12:00. k1: A's control on the 11th, orders on the
    13th at 05:00 and the 15th. r4: A on 29 March at 10:00 (sms), order on 1 April 09:00
    (the next period). r5: A (email) and B (push) at the same instant, 12 March 20:00, and
    an order at 13 March 01:00 (the greater touch_id, B's, takes the credit)."""
    records: list[Any] = [
        campaign("A", "2025-03-01", cost=100, channel="email"),
        campaign("B", "2025-03-02", cost=50, channel="push"),
        *(customer(c, acquisition_channel="organic") for c in ("r1", "r2", "r3", "r4", "k1")),
        touch("r1", "2025-03-12 10:00", campaign_id="A"),
        touch("r2", "2025-03-06 00:00", campaign_id="A"),
        touch("r3", "2025-03-10 08:00", campaign_id="A"),
        touch("r3", "2025-03-11 08:00", campaign_id="A"),
        touch("r3", "2025-03-12 08:00", campaign_id="B", channel="push"),
        touch("k1", "2025-03-11 08:00", campaign_id="A", is_control=True),
        touch("r4", "2025-03-29 10:00", campaign_id="A", channel="sms"),
        touch("r5", "2025-03-12 20:00", campaign_id="A", touch_id="t-r5-a"),
        touch("r5", "2025-03-12 20:00", campaign_id="B", channel="push", touch_id="t-r5-b"),
        order("r1", "2025-03-12 23:59:59", 10),
        order("r1", "2025-03-13 00:00", 20),
        order("r2", "2025-03-12 23:59:59", 30),
        order("r2", "2025-03-13 00:00", 40),
        order("r3", "2025-03-14 08:00", 50),
        order("r3", "2025-03-17 12:00", 60),
        order("k1", "2025-03-13 05:00", 70),
        order("k1", "2025-03-15 08:00", 80),
        order("r4", "2025-04-01 09:00", 90),
        order("r5", "2025-03-13 01:00", 100),
    ]
    return make_store(tmp_path_factory.mktemp("runs") / "s.duckdb", records)


RUN_SERIES: dict[str, Any] = {"start": "2025-03", "end": "2025-05", "grain": "month",
                              "timezone": "UTC"}


RUNS = {"by span": None, "always": True, "never": False}
"""Whether the touch x order joins go through runs of days: as `campaigns._by_runs`
decides from the span of orders each join reads (here, short spans: none does), or forced
either way, so that both forms of the join meet the windows that cross a run's end."""


@pytest.fixture(params=list(RUNS))
def runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    forced = RUNS[request.param]
    if forced is not None:
        monkeypatch.setattr(campaigns, "_by_runs", lambda since, until, days: forced)
    return str(request.param)


@pytest.mark.parametrize("days", [3, 7, 10])
@pytest.mark.parametrize("by", [None, "channel"])
@pytest.mark.parametrize("how", ["together", "alone"])
def test_windows_across_runs_equal_the_plain_definitions(runs_store: Store, days: int,
                                                         by: str | None, how: str,
                                                         runs: str) -> None:
    names = [n for n in NAMES if by is None or by in METRICS[n].slices]
    catalog = {**METRICS, **{f"{n}_reference": _reference(n) for n in names}}
    def run(asked: list[str]) -> KpiResult:
        params = {n: {"attribution_days": days} for n in asked if "reach" not in n}
        return compute(runs_store, asked, catalog=catalog, by=by, params=params,
                       **RUN_SERIES)

    references = run([f"{n}_reference" for n in names])
    together = dict.fromkeys(names, run(names)) if how == "together" else None
    answers = together or {n: run([n]) for n in names}
    for name in names:
        expected = _rows(references, f"{name}_reference")
        assert expected, name
        assert _rows(answers[name], name) == expected, (name, how, by, days, runs)


@pytest.mark.parametrize(("days", "a_revenue", "b_revenue", "a_converted"), [
    # r1's two orders, r2's first, r4's of 1 April to A; r3's two (B is the latest contact
    # before each) and r5's (the tie) to B; A converts r1 r2 r3 r4 r5
    (7, 10 + 20 + 30 + 90, 50 + 60 + 100, 5),
    # r2's order exactly at the run's start is inside its 10-day window too
    (10, 10 + 20 + 30 + 40 + 90, 50 + 60 + 100, 5),
    # r2 buys after its window; r3's order of the 14th 08:00 is exactly at the end of A's
    # second window (only B's holds it), the 17th is outside every window
    (3, 10 + 20 + 90, 50 + 100, 3),
])
def test_windows_across_runs_by_hand(runs_store: Store, days: int, a_revenue: int,
                                     b_revenue: int, a_converted: int, runs: str) -> None:
    """Hand-computed March figures, so that the equality above compares something."""
    params = {n: {"attribution_days": days} for n in NAMES if n != "campaign_reach"}
    r = compute(runs_store, list(NAMES), catalog=METRICS, params=params, **RUN_SERIES)
    assert r.value("campaign_revenue", period="2025-03", item="A") == a_revenue
    assert r.value("campaign_revenue", period="2025-03", item="B") == b_revenue
    assert r.value("campaign_conversion", "converted", period="2025-03", item="A") == (
        a_converted)
    # k1 (control) bought inside A's window whatever its length (the 13th, 05:00)
    assert r.value("campaign_lift", "control_conversion", period="2025-03", item="A") == 1


def test_joins_over_two_runs_of_orders_or_fewer_go_by_customer_alone() -> None:
    """Runs of four 7-day windows are 28 days: the warm newest month (31 days of orders
    and the 7 after) joins by customer alone, a quarter of a 36-month series by runs."""
    march = datetime(2025, 3, 1)
    assert not campaigns._by_runs(march, datetime(2025, 4, 8), 7)  # 38 days
    assert not campaigns._by_runs(march, march + timedelta(days=56), 7)
    assert campaigns._by_runs(march, march + timedelta(days=57), 7)
    assert not campaigns._by_runs(march, march + timedelta(days=57), 10)  # runs of 40 days
    assert campaigns._by_runs(march, None, 7)  # every order from March on


# -- touched customers counted a few periods at a time ----------------------------------------

@pytest.mark.parametrize("chunks", [1, 2])
@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_contacts_counted_in_chunks_of_periods_equal_the_plain_definitions(
        store: Store, monkeypatch: pytest.MonkeyPatch, chunks: int, by: str | None) -> None:
    """The series above is three months, a month per chunk (the tests above): counted in
    one chunk of three months, and in two (two months, then one), the touched customers
    (reach, conversion's contacted, lift's group sizes) are the same. c1 is touched by A
    in March and by D in May, in different chunks of two, and counts in each."""
    monkeypatch.setattr(campaigns, "CHUNKS", chunks)
    names = [n for n in NAMES if by is None or by in METRICS[n].slices]
    catalog = {**METRICS, **{f"{n}_reference": _reference(n) for n in names}}
    references = compute(store, [f"{n}_reference" for n in names], catalog=catalog, by=by,
                         **SERIES)
    answers = compute(store, names, catalog=catalog, by=by, **SERIES)
    for name in names:
        expected = _rows(references, f"{name}_reference")
        assert expected, name
        assert _rows(answers, name) == expected, (name, chunks, by)
    if by is None:
        assert answers.value("campaign_reach", period="2025-03") == 3  # c1 c2 c3
        assert answers.value("campaign_reach", period="2025-05", item="D") == 2  # c1 c6


@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("by", [None, "channel"])
def test_pairs_written_in_parts_equal_the_plain_definitions(
        store: Store, monkeypatch: pytest.MonkeyPatch, parts: int, by: str | None) -> None:
    """The shared pairs written whole, in two parts (March-April, then May to the window
    past June) and in three (a month each): every answer is the plain definition's. The
    parts cut by when the order was placed, and their touches reach a window back: c5's
    order of 2 June is in May's window of C, k4's of 30 May in its control's."""
    monkeypatch.setattr(campaigns, "PAIR_PARTS", parts)
    cut: list[int] = []
    pair_parts = campaigns._pair_parts

    def counted(ctx: MetricContext, days: int) -> list[ibis.Table]:
        made = pair_parts(ctx, days)
        cut.append(len(made))
        return made

    monkeypatch.setattr(campaigns, "_pair_parts", counted)
    names = [n for n in NAMES if by is None or by in METRICS[n].slices]
    catalog = {**METRICS, **{f"{n}_reference": _reference(n) for n in names}}
    references = compute(store, [f"{n}_reference" for n in names], catalog=catalog, by=by,
                         **SERIES)
    answers = compute(store, names, catalog=catalog, by=by, **SERIES)
    assert cut[0] == parts  # the series; a period asked again alone is one part
    for name in names:
        expected = _rows(references, f"{name}_reference")
        assert expected, name
        assert _rows(answers, name) == expected, (name, parts, by)


def _months(*starts: tuple[int, int]) -> tuple[Period, ...]:
    def month(year: int, number: int) -> Period:
        start = datetime(year, number, 1)
        end = datetime(year + number // 12, number % 12 + 1, 1)
        return Period(start, end, start, end, start.strftime("%Y-%m"))

    return tuple(month(*s) for s in starts)


def test_period_chunks_cut_at_period_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven months in at most three chunks: three months each (Jan-Mar, Apr-Jun), then
    July; in at most twelve, a month each; a lone period is one chunk."""
    monkeypatch.setattr(campaigns, "CHUNKS", 3)
    months = _months(*((2025, m) for m in range(1, 8)))
    span = Period(months[0].start, months[-1].end, months[0].start_utc, months[-1].end_utc,
                  "2025-01..2025-07")
    ctx = MetricContext(backend=None, period=span, as_of=span.end_utc, timezone="UTC",
                        currency="BRL", metric="campaign_reach", periods=months)
    assert campaigns.period_chunks(ctx) == [
        (datetime(2025, 1, 1), datetime(2025, 4, 1)),
        (datetime(2025, 4, 1), datetime(2025, 7, 1)),
        (datetime(2025, 7, 1), datetime(2025, 8, 1)),
    ]
    monkeypatch.setattr(campaigns, "CHUNKS", 12)
    assert campaigns.period_chunks(ctx) == [
        (datetime(2025, m, 1), datetime(2025, m + 1, 1)) for m in range(1, 8)]
    lone = replace(ctx, period=months[1], periods=None)
    assert campaigns.period_chunks(lone) == [(datetime(2025, 2, 1), datetime(2025, 3, 1))]
