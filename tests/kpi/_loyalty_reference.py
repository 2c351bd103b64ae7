"""The loyalty metrics as they were written before they were made cheap (issue #20), kept
verbatim (but for the keys of the tables they share in a call, prefixed `reference.` so
that both sets answer in one call without reading each other's tables) as the reference
`test_loyalty_rewrite.py` compares the shipped definitions with: the same answers,
exactly, on a ledger built to cross every case the rewrite touched.

Only the tests import this module; the definitions and their rules are documented in
`clientela.metrics.loyalty`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from clientela.config import LoyaltyConfig
from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.localtime import local_day
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Loyalty programme"
CUSTOMER = ("acquisition_channel", "segment")
ALL = ("channel", "store_id", "salesperson_id", "acquisition_channel", "segment")
DEFAULT_DISCOUNT_DAYS = 30


class ThresholdParams(NoParams):
    redemption_threshold: int = Field(
        default=LoyaltyConfig.model_fields["redemption_threshold"].default, ge=1,
        description="Points a member needs to redeem (the workspace's [loyalty] setting).")


class DiscountParams(NoParams):
    last_days: int | None = Field(
        default=None, ge=1,
        description="When set, the period is the last N days before as_of instead of P.")


class ExpiryParams(NoParams):
    expiry_days: int = Field(default=30, ge=1,
                             description="Horizon after as_of within which points expire.")


def balances(ctx: MetricContext, at: datetime) -> ir.Table:
    """customer_id -> balance, from every signed event before `at`."""
    events = ctx.table("loyalty_events")
    events = events.filter(events.occurred_at < at)
    return events.group_by("customer_id").aggregate(balance=events.points.sum())


def balances_as_of(ctx: MetricContext) -> ir.Table:
    """Balances as of the as-of instant; in a series, as of each period's end (keyed by
    PERIOD_COLUMN), from one pass over the events."""
    if not ctx.periods:
        return balances(ctx, ctx.as_of)
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)
    starts = [p.start_utc for p in ctx.periods]

    def build() -> ir.Table:
        events = ctx.table("loyalty_events")
        events = events.filter(events.occurred_at < ctx.end)
        events = events.mutate(_k=cv.bucket_index(events.occurred_at, starts))
        per = events.group_by(["customer_id", "_k"]).aggregate(_points=events.points.sum())
        return cv.at_each_end(ctx, per, ["customer_id"],
                              balance=lambda w: per._points.sum().over(w))

    # members_with_points and redeemable_members read the same customers x periods
    # balances: spread once per call
    key = f"{starts[0].isoformat()}|{ctx.end.isoformat()}|{len(starts)}"
    return ctx.shared(f"reference.loyalty.balances|{key}", build)


def _order_lookup(ctx: MetricContext) -> tuple[ir.Table, ir.Table] | None:
    """(every order_id the store holds, valid order_id -> loyalty value), or None without
    orders; both distinct on order_id so that joins never duplicate an event."""
    if not ctx.has("orders"):
        return None
    def every() -> ir.Table:
        return ctx.table("orders").select(_any="order_id").distinct()

    def valid() -> ir.Table:
        orders = cv.valid_orders(ctx, amounts=("loyalty_value",))
        return orders.group_by(_valid="order_id").aggregate(
            _loyalty=orders.loyalty_value.max())

    # several loyalty metrics ask for both: built once per call
    return (ctx.shared("reference.loyalty.order_ids", every),
            ctx.shared("reference.loyalty.order_values", valid))


def redeem_events(ctx: MetricContext, since: datetime, until: datetime) -> ir.Table:
    """Redeem events in [since, until) that stand (not tied to an invalid order), with the
    `discount` they granted."""
    events = ctx.table("loyalty_events")
    events = events.filter((events.kind == "redeem") & (events.occurred_at >= since)
                           & (events.occurred_at < until))
    lookup = _order_lookup(ctx)
    if lookup is None:
        return events.mutate(discount=events.discount_value.cast(cv.MONEY))
    every, valid = lookup
    joined = events.left_join(every, events.order_id == every._any)
    joined = joined.left_join(valid, joined.order_id == valid._valid)
    joined = joined.filter(joined.order_id.isnull() | joined._any.isnull()
                           | joined._valid.notnull())
    discount = joined.discount_value.cast(cv.MONEY).coalesce(joined._loyalty)
    return joined.mutate(discount=discount).drop("_any", "_valid", "_loyalty")


def _event_orders(ctx: MetricContext, kind: str) -> ir.Table:
    """The order ids an event of `kind` is tied to, once each (built once per call: every
    metric that flags orders asks for them)."""
    def build() -> ir.Table:
        events = ctx.table("loyalty_events")
        events = events.filter((events.kind == kind) & events.order_id.notnull())
        return events.select(_eid="order_id").distinct()

    return ctx.shared(f"reference.loyalty.event_orders|{kind}", build)


def flagged_orders(ctx: MetricContext, *, kind: str, since: datetime | None = None,
                   until: datetime | None = None) -> ir.Table:
    """Valid orders of [since, until) (default P) with `own` (the order's fields say it
    redeemed, kind='redeem', or earned, kind='earn') and `linked` (an event of that kind is
    tied to it), both 0/1, and `flag` = either."""
    if since is None and until is None:  # P's orders, tagged with their period in a series
        orders = cv.in_period(ctx, cv.valid_orders(ctx), "placed_at")
    else:
        orders = cv.valid_orders(ctx, since=ctx.start if since is None else since,
                                 until=ctx.end if until is None else until)
    linked = _event_orders(ctx, kind)
    joined = orders.left_join(linked, orders.order_id == linked._eid)
    if kind == "redeem":
        own = (joined.loyalty_points_redeemed > 0) | (joined.loyalty_value > 0)
    else:
        own = joined.loyalty_points_earned > 0
    tied = joined._eid.notnull()
    return joined.mutate(own=cv.indicator(own), linked=cv.indicator(tied),
                         flag=cv.indicator(own | tied)).drop("_eid")


def redemptions(ctx: MetricContext, since: datetime, until: datetime) -> ir.Table:
    """Every redemption of [since, until): customer_id, at, points, discount. Redeem events
    that stand, plus valid orders that redeemed by their own fields with no redeem event tied
    to them (a source that records loyalty only on orders), so none is counted twice.

    discount_granted and redemption_day_spend ask for the same span: built once per call."""
    return ctx.shared(f"reference.loyalty.redemptions|{since.isoformat()}|{until.isoformat()}",
                      lambda: _redemptions(ctx, since, until))


def _redemptions(ctx: MetricContext, since: datetime, until: datetime) -> ir.Table:
    events = redeem_events(ctx, since, until)
    events = events.select("customer_id", at=events.occurred_at,
                           points=(-events.points).cast("int64"), discount=events.discount)
    if not ctx.has("orders"):
        return events
    orders = flagged_orders(ctx, kind="redeem", since=since, until=until)
    orders = orders.filter((orders.own == 1) & (orders.linked == 0))
    orders = orders.select("customer_id", at=orders.placed_at,
                           points=orders.loyalty_points_redeemed.cast("int64"),
                           discount=orders.loyalty_value.cast(cv.MONEY))
    return events.union(orders)


def members_with_points(ctx: MetricContext, params: NoParams) -> ir.Table:
    held = balances_as_of(ctx)
    held = cv.with_slice(ctx, held.filter(held.balance > 0))
    return cv.summarize(held, ctx, value=held.count(),
                        points=held.balance.sum().coalesce(0))


def redeemable_members(ctx: MetricContext, params: ThresholdParams) -> ir.Table:
    held = balances_as_of(ctx)
    held = cv.with_slice(ctx, held.filter(held.balance >= params.redemption_threshold))
    return cv.summarize(held, ctx, value=held.count(),
                        points=held.balance.sum().coalesce(0))


def discount_granted(ctx: MetricContext, params: DiscountParams) -> ir.Table:
    if params.last_days is None:
        found = cv.in_period(ctx, redemptions(ctx, ctx.start, ctx.end), "at")
    elif ctx.periods:
        raise SeriesUnsupported(ctx.metric)  # a window before each period's end
    else:
        found = redemptions(ctx, ctx.as_of - timedelta(days=params.last_days), ctx.as_of)
    found = cv.with_slice(ctx, found)
    return cv.summarize(found, ctx, value=cv.money_sum(found.discount),
                        redemptions=found.count(), points_redeemed=found.points.sum().coalesce(0))


def redemption_visits(ctx: MetricContext, params: NoParams) -> ir.Table:
    orders = flagged_orders(ctx, kind="redeem")
    orders = cv.with_slice(ctx, orders.filter(orders.flag == 1))
    return cv.summarize(orders, ctx, value=orders.count(),
                        customers=orders.customer_id.nunique())


def redemption_day_spend(ctx: MetricContext, params: NoParams) -> ir.Table:
    """Orders placed on a local day on which their customer redeemed. Both sides carry their
    local day number (epoch arithmetic, no time-zone function), so the match is an equality
    join on (customer, day) rather than a range join against a table of days; orders and
    redemptions are both inside P, so a day clipped by P's bounds needs no special case."""
    found = redemptions(ctx, ctx.start, ctx.end)
    found = found.filter(found.customer_id.notnull())
    redeeming = found.select(_rcid=found.customer_id, _rday=_day(ctx, found.at)).distinct()
    orders = cv.in_period(ctx, cv.valid_orders(ctx, since=ctx.start, until=ctx.end), "placed_at")
    orders = orders.mutate(_day=_day(ctx, orders.placed_at))
    spent = orders.inner_join(redeeming, (orders.customer_id == redeeming._rcid)
                              & (orders._day == redeeming._rday))
    spent = cv.with_slice(ctx, spent.drop("_rcid", "_rday", "_day"))
    return cv.summarize(spent, ctx, value=cv.money_sum(spent.revenue), orders=spent.count(),
                        customers=spent.customer_id.nunique())


def _day(ctx: MetricContext, moment: ir.TimestampValue) -> ir.IntegerValue:
    return local_day(moment, ctx.timezone, ctx.start, ctx.end)


def scored_share(ctx: MetricContext, params: NoParams) -> ir.Table:
    orders = cv.with_slice(ctx, flagged_orders(ctx, kind="earn"))
    scored = orders.flag.sum().coalesce(0)
    return cv.summarize(orders, ctx, value=cv.ratio(scored, orders.count()),
                        scored_orders=scored, orders=orders.count())


def _lot_events(ctx: MetricContext) -> ir.Table:
    """loyalty_events with `_lot`: the rows that belong to a lot, the lots themselves
    (points > 0) and the reversals tied to an order whose earn has an expiry; such a
    reversal takes the lot's `expires_at`, so it counts where its points came from."""
    events = ctx.table("loyalty_events")
    earns = events.filter((events.kind == "earn") & events.order_id.notnull()
                          & events.expires_at.notnull() & (events.points > 0))
    lots = earns.group_by(_ls="source", _lc="customer_id", _lo="order_id").aggregate(
        _lx=earns.expires_at.max())
    # equality keys only: with `kind == 'reverse'` in the ON clause DuckDB falls back to a
    # nested-loop join (minutes at a million events); one lot per key, so no row doubles
    joined = events.left_join(lots, (events.source == lots._ls)
                              & (events.customer_id == lots._lc)
                              & (events.order_id == lots._lo))
    tied = joined._lx.notnull() & (joined.kind == "reverse")
    return joined.select(
        "customer_id", "occurred_at", "points",
        expires_at=ibis.ifelse(tied, joined._lx, joined.expires_at),
        _lot=(joined.points > 0) | tied)


def _expiry_steps(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """Per customer and bucket `_k`, how two amounts change as of that period's end: `_e`,
    the balance less the points of lots expiring after the window (what must come out of
    the lots expiring sooner), and `_w`, the points of lots expiring in the window.

    With E_p each period's end and d the horizon, an event counts for the balance from
    a = the first p with E_p > occurred_at; a lot (points > 0) expires later while
    E_p + d <= expires_at (p < b), and in the window while E_p <= expires_at < E_p + d
    (max(a, b) <= p < c). So a lot adds at a and moves its points at b and at c: at most
    three rows per event, whose running sums are every period's state."""
    ends = [p.end_utc for p in ctx.periods or ()]
    horizons = [end + timedelta(days=params.expiry_days) for end in ends]
    n = len(ends)
    zero = ibis.literal(0, type="int64")
    events = _lot_events(ctx)
    events = events.filter(events.occurred_at < ctx.end)
    expires = events.expires_at
    steps = events.select(
        "customer_id", _pts=events.points.cast("int64"), _lot=events._lot,
        _a=cv.count_at_or_before(events.occurred_at, ends),
        _b=ibis.ifelse(expires.isnull(), n, cv.count_at_or_before(expires, horizons)),
        _c=ibis.ifelse(expires.isnull(), n, cv.count_at_or_before(expires, ends)))
    lot, pts, a, b, c = steps._lot, steps._pts, steps._a, steps._b, steps._c
    added = steps.select(  # every event at a; a lot expiring later is not spent first
        "customer_id", _k=a, _e=ibis.ifelse(lot & (b > a), zero, pts),
        _w=ibis.ifelse(lot & (b <= a) & (a < c), pts, zero))
    nearer = steps.filter(lot & (a < b) & (b < n)).select(  # from b on, expiring soon
        "customer_id", _k=b, _e=pts, _w=ibis.ifelse(b < c, pts, zero))
    expired = steps.filter(lot & (ibis.greatest(a, b) < c) & (c < n)).select(
        "customer_id", _k=c, _e=zero, _w=-pts)
    moves = ibis.union(added, nearer, expired, distinct=False)
    return moves.group_by(["customer_id", "_k"]).aggregate(_e=moves._e.sum(),
                                                           _w=moves._w.sum())


def _expiry_state_series(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """customer_id, PERIOD_COLUMN, _early, _window as of each period's end (see
    _expiry_state), from one pass over the events."""
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    per = _expiry_steps(ctx, params)
    return cv.at_each_end(ctx, per, ["customer_id"],
                          _early=lambda w: per._e.sum().over(w),
                          _window=lambda w: per._w.sum().over(w))


def _expiry_state(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """customer_id, _early (the balance less the points of lots expiring after the window)
    and _window (points of lots expiring in it) as of ctx.as_of, for the customers holding
    lots."""
    start = ctx.as_of
    horizon = start + timedelta(days=params.expiry_days)
    events = _lot_events(ctx)
    lots = events.filter((events.occurred_at < start) & events._lot)
    in_window = (lots.expires_at >= start) & (lots.expires_at < horizon)
    later = lots.expires_at.isnull() | (lots.expires_at >= horizon)
    zero = ibis.literal(0, type="int64")
    per = lots.group_by(_lcid="customer_id").aggregate(
        _window=ibis.ifelse(in_window, lots.points.cast("int64"), zero).sum(),
        _later=ibis.ifelse(later, lots.points.cast("int64"), zero).sum(),
    )
    held = balances(ctx, start)
    joined = held.inner_join(per, held.customer_id == per._lcid)
    return joined.select("customer_id", _early=joined.balance.cast("int64") - joined._later,
                         _window=joined._window)


def _every_period(ctx: MetricContext, answer: ir.Table) -> ir.Table:
    """An unsliced series answer of points_expiring with a row for every period: a period
    with nothing expiring gets the zeros its one-period answer has, where a missing row
    would make the engine ask that period again alone (a query each: the months before
    any point expires)."""
    events = ctx.table("loyalty_events")
    grid = events.aggregate(_n=events.count())
    grid = grid.select(_p=ibis.range(0, len(ctx.periods or ()))).unnest("_p")
    joined = grid.left_join(answer, grid._p.cast("int64") == answer[PERIOD_COLUMN])
    zero = ibis.literal(0, type="int64")
    return joined.select(**{PERIOD_COLUMN: joined._p.cast("int64")},
                         value=joined.value.coalesce(zero),
                         customers=joined.customers.coalesce(zero))


def points_expiring(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    state = _expiry_state_series(ctx, params) if ctx.periods else _expiry_state(ctx, params)
    left = ibis.least(ibis.greatest(state._early, ibis.literal(0, type="int64")),
                      state._window)
    periods = [PERIOD_COLUMN] if ctx.periods else []
    expiring = state.select("customer_id", *periods, points=left)
    expiring = cv.with_slice(ctx, expiring.filter(expiring.points > 0))
    answer = cv.summarize(expiring, ctx, value=expiring.points.sum().coalesce(0),
                          customers=expiring.count())
    return _every_period(ctx, answer) if ctx.periods and ctx.by is None else answer


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", CUSTOMER)
        kw.setdefault("needs", ("loyalty_events",))
        return Metric(name=name, title=title, title_pt=title_pt, description=description,
                      unit=unit, compute=fn, group=GROUP, **kw)  # type: ignore[arg-type]

    return [
        m("loyalty_members_with_points", "Members with points", "Clientes com pontos",
          "Customers whose points balance (sum of signed events) is above zero at the "
          "period's end; also the points they hold.", "count", members_with_points,
          measures=("value", "points"), series=True),
        m("loyalty_redeemable_members", "Members able to redeem", "Clientes aptos a resgatar",
          "Customers whose balance at the period's end reaches the redemption threshold "
          "(default 500 points).", "count", redeemable_members, params=ThresholdParams,
          measures=("value", "points"), series=True),
        m("loyalty_discount_granted", "Loyalty discount granted", "Desconto concedido em pontos",
          "Value of the discounts granted through point redemptions in the period (default "
          "period: the last 30 days); also the redemptions and points redeemed.", "currency",
          discount_granted, params=DiscountParams,
          measures=("value", "redemptions", "points_redeemed"),
          extra={"default_period_days": DEFAULT_DISCOUNT_DAYS}, series=True),
        m("loyalty_redemption_visits", "Redemption visits", "Visitas com resgate",
          "Valid orders in the period on which points were redeemed.", "count",
          redemption_visits, needs=("loyalty_events", "orders"), slices=ALL,
          measures=("value", "customers"), series=True),
        m("loyalty_redemption_day_spend", "Spend on redemption days",
          "Gasto no dia do resgate",
          "Revenue of all valid orders a redeeming customer placed on the (local) day of a "
          "redemption, in the period.", "currency", redemption_day_spend,
          needs=("loyalty_events", "orders"), slices=ALL,
          measures=("value", "orders", "customers"), series=True),
        m("loyalty_scored_share", "Orders that earned points", "Pedidos pontuados",
          "Share of valid orders in the period that earned points.", "ratio", scored_share,
          needs=("loyalty_events", "orders"), slices=ALL,
          measures=("value", "scored_orders", "orders"), series=True),
        m("loyalty_points_expiring", "Points expiring", "Pontos a expirar",
          "Points still held that expire within expiry_days (default 30) after the period's "
          "end (earliest-expiring points spent first), and the customers holding them.",
          "points", points_expiring, params=ExpiryParams, measures=("value", "customers"),
          series=True),
    ]
