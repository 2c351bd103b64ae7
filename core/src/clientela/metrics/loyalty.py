"""docs/metrics.md, "Loyalty programme": balances, redemptions and the points about to expire.

Choices the one-line definitions leave open, made once here:

- A balance is the sum of a customer's signed events (earn > 0; redeem,
  expire < 0; adjust either way) before the instant asked for; nothing is
  inferred from `expires_at`, so a source that records expiry as events is
  never counted twice. "At P's end" is `ctx.as_of` (P's end unless the
  caller fixes it), like every point-in-time metric.
- An event's order is the one whose key is (order_source, order_id): the
  event's `order_source`, or else its own `source`. An order's key is its
  source and id, and two sources may both have an order "1001" (a web shop's
  and a till's). A platform that exports its orders and its ledger leaves
  `order_source` empty (the order is the same system's); a ledger kept apart
  from the orders, such as the clientela-loyalty engine's (source `loyalty`)
  or a loyalty system imported under a source name of its own, sets it to
  the order's source. A `reverse` event belongs to the lot earned by the same
  ledger (source) for the same customer and order key.
- A redemption is a `redeem` event, or a valid order that redeemed points
  (`loyalty_points_redeemed` or `loyalty_discount` on the order) with no
  redeem event tied to it, so a source that records loyalty only on orders
  is counted and one that records both is not counted twice. A redeem
  event tied to an order that is cancelled or fully refunded is not a
  redemption (the valid-order convention); one tied to an order the store
  does not hold is kept.
- Money a redemption granted is the event's `discount_value`, or else the
  linked valid order's loyalty discount in the reporting currency (for an
  order-only redemption, the order's loyalty discount).
- `loyalty_discount_granted` "default P = last 30 days": the engine always
  receives a period, so the default period is declared in the metric's
  `extra["default_period_days"]` for a caller (the CLI) that has none; the
  `last_days` parameter, when set, replaces P by the `last_days` days
  before as_of, whatever period is asked for.
- Points expiring in `[as_of, as_of + expiry_days)` are counted after what
  was already spent, assuming the programme consumes the earliest-expiring
  points first (the usual rule): of a balance B, with L points expiring
  later (or never) and W expiring in the window, `clamp(B - L, 0, W)` are
  still there to expire. A `reverse` event tied to an order whose `earn`
  carries an expiry takes its points from that lot, not from the earliest:
  it counts with that lot (a reversal of a later-expiring lot leaves the
  points expiring sooner untouched).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from clientela.config import LoyaltyConfig
from clientela.kpi import conventions as cv
from clientela.kpi.carried_earns import earned_orders
from clientela.kpi.carried_ledger import ledger
from clientela.kpi.carried_redemptions import (
    kept_links,
    named_orders,
    order_source,
    redeem_state_since,
)
from clientela.kpi.context import ORDER_SLICES, PERIOD_COLUMN, SLICE_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.localtime import local_day
from clientela.kpi.sql import stack
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Loyalty programme"
CUSTOMER = ("acquisition_channel", "segment")
ALL = ("channel", "store_id", "salesperson_id", "acquisition_channel", "segment")
DEFAULT_DISCOUNT_DAYS = 30
KEPT = ("source", "order_id", "customer_id", "placed_at", "loyalty_points_redeemed")
"""The order columns `redeem_orders` keeps: what the redemptions read (and the order
slice, when the call asks for one)."""


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
    """customer_id -> balance, from every signed event before `at` (in a warm call, a
    carried state's balances and the events since: `clientela.kpi.carried_ledger`)."""
    events = ledger(ctx, at, earliest=at)
    return events.group_by("customer_id").aggregate(balance=events.points.sum())


def balance_steps(ctx: MetricContext) -> ir.Table:
    """For a series: customer_id, `_k`, `_until` and `balance`, the customer's balance as of
    the ends of periods `_k` to `_until - 1` (it changes in `_k`, and next in `_until`),
    from one pass over the events. Not spread over the periods: the answers add up these
    steps per period (see `_holders_at_each_end`). In a warm call the events before a
    carried state are its balances, dated at its instant (in bucket 0 like every event
    before the series)."""
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)
    starts = [p.start_utc for p in ctx.periods or ()]
    n = len(starts)

    def build() -> ir.Table:
        events = ledger(ctx, ctx.end, earliest=ctx.start)
        events = events.mutate(_k=cv.bucket_index(events.occurred_at, starts))
        per = events.group_by(["customer_id", "_k"]).aggregate(_points=events.points.sum())
        running = ibis.cumulative_window(group_by=per.customer_id, order_by=per._k)
        following = per._k.lead().over(ibis.window(group_by=per.customer_id, order_by=per._k))
        return per.select("customer_id", "_k", _until=following.coalesce(n),
                          balance=per._points.sum().over(running))

    # members_with_points and redeemable_members read the same steps: built once per call
    key = f"{starts[0].isoformat()}|{ctx.end.isoformat()}|{n}"
    return ctx.shared(f"loyalty.balance_steps|{key}", build)


def _holders_at_each_end(ctx: MetricContext, held: ir.Table) -> ir.Table:
    """value (how many customers) and points (the sum of their `balance`) per period end and
    slice, from the steps `held` keeps (those in which a customer counts): balance steps,
    or the points about to expire (`points_expiring`).

    A step adds its customer and balance at `_k` and takes them away at `_until`; summed
    per period and slice, then accumulated over the periods, these give every period's
    totals from about two rows per step, where spreading each step over its periods makes
    a row per customer and period. Unsliced, every period gets a row (the zeros a period
    without holders answers alone); sliced, a slice appears where it has holders."""
    n = len(ctx.periods or ())
    held = cv.with_slice(ctx, held)
    group = [SLICE_COLUMN] if ctx.by else []
    one = ibis.literal(1, type="int64")
    points = held.balance.cast("int64")
    parts = [held.select(*group, _k=held._k, _n=one, _v=points)]
    gone = held.filter(held._until < n)
    parts.append(gone.select(*group, _k=gone._until, _n=-one, _v=-gone.balance.cast("int64")))
    if not ctx.by:  # a zero at the first period, so every period has a running total
        events = ctx.table("loyalty_events")
        zero = ibis.literal(0, type="int64")
        parts.append(events.aggregate(_c=events.count()).select(_k=zero, _n=zero, _v=zero))
    moves = stack(*parts)
    per = moves.group_by([*group, "_k"]).aggregate(_n=moves._n.sum(), _v=moves._v.sum())
    totals = cv.at_each_end(ctx, per, group, value=lambda w: per._n.sum().over(w),
                            points=lambda w: per._v.sum().over(w))
    return totals.filter(totals.value > 0) if ctx.by else totals


def redeem_orders(ctx: MetricContext, since: datetime | None = None) -> ir.Table:
    """Every valid order that redeemed, by its own fields or a redeem event tied to it, with
    `_own` (its fields say so), `_tied` (an event is tied to it) and `loyalty_value`: the
    orders that discount_granted, redemption_visits and redemption_day_spend read. With
    `since`, the instant of a carried state (`redeem_state_since`), only those placed from
    it on: an event tied to one of them is dated from it on, or kept with the state
    (`clientela.kpi.carried_redemptions`), so the month's orders and events are read, not
    every order.

    One pass over the valid orders with the redeem events' order ids (a left join with
    their distinct ids, whose hash table is the small side); the three metrics ask for it
    in one call, so it is written out once, where each of them used to scan the orders
    again (twice for the redemptions: the orders the events name and the order-only ones).
    Orders are matched by their key, (source, order_id), to the order each event names
    (`order_source`)."""
    def build() -> ir.Table:
        orders = cv.valid_orders(ctx, since=since, amounts=("loyalty_value",))
        tied = named_orders(ctx, "redeem", since=since)
        if since is not None:
            kept = kept_links(ctx, before=False)
            tied = stack(tied, kept.select(_esrc=kept.source, _eid=kept.order_id))
        tied = tied.distinct()
        joined = orders.left_join(tied, (orders.order_id == tied._eid)
                                  & (orders.source == tied._esrc))
        own = _own(joined, "redeem")
        joined = joined.select(*KEPT, *sliced, "loyalty_value", _own=own,
                               _tied=joined._eid.notnull())
        return joined.filter(joined._own | joined._tied)

    # the order columns a slice reads, only when the call is sliced by one: a catalogue
    # call (unsliced) writes three string columns fewer
    sliced = [ctx.by] if ctx.by in ORDER_SLICES else []
    since_key = "" if since is None else since.isoformat()
    return ctx.shared(f"loyalty.redeem_orders|{ctx.by}|{since_key}", build)


def _invalid_orders(ctx: MetricContext, since: datetime | None) -> ir.Table:
    """`_bsrc`, `_bad`: the keys of the stored orders that are not valid (cancelled, fully
    refunded); with `since` (see `redeem_orders`), those placed from it on and those before
    it that the state keeps as named by a redeem event since.

    A redeem event tied to an order the store holds stands when that order is valid; held
    and not valid means it is among the invalid ones. So the few invalid orders are read
    (their status filters the scan), where looking up every order the events name meant a
    semi-join of all the order keys. An order's key is unique: no distinct pass."""
    orders = ctx.table("orders")
    if since is not None:
        orders = orders.filter(orders.placed_at >= since)
    invalid = orders.filter(cv.invalid_order(orders))
    invalid = invalid.select(_bsrc=invalid.source, _bad=invalid.order_id)
    if since is None:
        return invalid
    kept = kept_links(ctx, before=True)
    kept = kept.filter(~kept.valid)
    return stack(invalid, kept.select(_bsrc=kept.source, _bad=kept.order_id))


def redeem_events(ctx: MetricContext, since: datetime, until: datetime,
                  flagged: ir.Table | None = None) -> ir.Table:
    """Redeem events in [since, until) that stand (not tied to an invalid order), with the
    `discount` they granted. `flagged` is `redeem_orders` when the caller holds it already
    (asked twice, a shared table is written out the second time), for the same carried
    state (`redeem_state_since(ctx, since)`)."""
    events = ctx.table("loyalty_events")
    events = events.filter((events.kind == "redeem") & (events.occurred_at >= since)
                           & (events.occurred_at < until))
    if not ctx.has("orders"):
        return events.mutate(discount=events.discount_value.cast(cv.MONEY))
    state = redeem_state_since(ctx, since)
    bad = _invalid_orders(ctx, state)
    # the valid orders an event is tied to are among redeem_orders (as `_tied`), one row
    # per order key, so the join never duplicates an event; with a carried state, those
    # placed before it are kept with it (and never among redeem_orders)
    tied = redeem_orders(ctx, state) if flagged is None else flagged
    tied = tied.filter(tied._tied)
    valid = tied.select(_vsrc=tied.source, _valid=tied.order_id, _loyalty=tied.loyalty_value)
    if state is not None:
        kept = kept_links(ctx, before=True)
        kept = kept.filter(kept.valid)
        valid = stack(valid, kept.select(_vsrc=kept.source, _valid=kept.order_id,
                                         _loyalty=kept.loyalty_value))
    events = events.mutate(_osrc=order_source(events))
    joined = events.left_join(valid, (events.order_id == valid._valid)
                              & (events._osrc == valid._vsrc))
    joined = joined.left_join(bad, (joined.order_id == bad._bad) & (joined._osrc == bad._bsrc))
    joined = joined.filter(joined.order_id.isnull() | joined._valid.notnull()
                           | joined._bad.isnull())
    discount = joined.discount_value.cast(cv.MONEY).coalesce(joined._loyalty)
    return joined.mutate(discount=discount).drop("_osrc", "_vsrc", "_valid", "_loyalty",
                                                 "_bsrc", "_bad")


def _own(orders: ir.Table, kind: str) -> ir.BooleanValue:
    """The order's own fields say it redeemed (kind='redeem') or earned (kind='earn'), as
    true or false (a null field is not a statement)."""
    if kind == "redeem":
        own = (orders.loyalty_points_redeemed > 0) | (orders.loyalty_value > 0)
    else:
        own = orders.loyalty_points_earned > 0
    return own.coalesce(False)


def _earned_not_flagged(ctx: MetricContext, orders: ir.Table) -> ir.Table:
    """The orders of P whose own fields do not say they earned but an earn event is tied to
    (in a warm call, the earn events since a carried state and the orders it keeps:
    `clientela.kpi.carried_earns`). Only those orders are looked up among the events: with
    the ones that flag themselves, they are the orders an event or their fields flag."""
    tied = earned_orders(ctx, ctx.start)
    others = orders.filter(~_own(orders, "earn"))
    return others.semi_join(tied, (others.order_id == tied._eid)
                            & (others.source == tied._esrc))


def redeeming_orders(ctx: MetricContext) -> ir.Table:
    """P's valid orders (each tagged with its period in a series) that redeemed: by the
    order's own fields, or a redeem event tied to it (see `redeem_orders`)."""
    flagged = redeem_orders(ctx, redeem_state_since(ctx, ctx.start))
    return cv.in_period(ctx, flagged.drop("_own", "_tied"), "placed_at")


def redemptions(ctx: MetricContext, since: datetime, until: datetime) -> ir.Table:
    """Every redemption of [since, until): customer_id, at, points, discount. Redeem events
    that stand, plus valid orders that redeemed by their own fields with no redeem event tied
    to them (a source that records loyalty only on orders), so none is counted twice.

    discount_granted and redemption_day_spend ask for the same span: built once per call."""
    return ctx.shared(f"loyalty.redemptions|{since.isoformat()}|{until.isoformat()}",
                      lambda: _redemptions(ctx, since, until))


def _redemptions(ctx: MetricContext, since: datetime, until: datetime) -> ir.Table:
    state = redeem_state_since(ctx, since)
    flagged = redeem_orders(ctx, state) if ctx.has("orders") else None
    events = redeem_events(ctx, since, until, flagged)
    events = events.select("customer_id", at=events.occurred_at,
                           points=(-events.points).cast("int64"), discount=events.discount)
    if flagged is None:
        return events
    orders = flagged
    orders = orders.filter(orders._own & ~orders._tied & (orders.placed_at >= since)
                           & (orders.placed_at < until))
    orders = orders.select("customer_id", at=orders.placed_at,
                           points=orders.loyalty_points_redeemed.cast("int64"),
                           discount=orders.loyalty_value.cast(cv.MONEY))
    return events.union(orders)


def _holders(ctx: MetricContext, least: int) -> ir.Table:
    """Customers whose balance is at least `least` at the end of P (or of each period of a
    series), how many and their points."""
    if ctx.periods:
        steps = balance_steps(ctx)
        return _holders_at_each_end(ctx, steps.filter(steps.balance >= least))
    held = _holders_per_balance(ctx)
    held = held.filter(held.balance >= least)
    return cv.summarize(held, ctx, value=held._n.sum().coalesce(0),
                        points=(held.balance * held._n).sum().coalesce(0))


def _holders_per_balance(ctx: MetricContext) -> ir.Table:
    """How many customers (`_n`) hold each positive balance at as_of (per slice): what
    members_with_points and redeemable_members answer from, whatever their threshold.

    Both asked in one call (a warm call's newest month), the customers' events are grouped
    once and the few distinct balances written (thousands of rows, where the customers are
    a million at 10M orders), instead of each metric grouping every kept ledger row and
    event again."""
    def build() -> ir.Table:
        held = balances(ctx, ctx.as_of)
        held = cv.with_slice(ctx, held.filter(held.balance > 0))
        return held.group_by([*ctx.keys, "balance"]).aggregate(_n=held.count())

    key = f"loyalty.holders_per_balance|{ctx.by}|{ctx.segmenter}|{ctx.as_of.isoformat()}"
    return ctx.shared(key, build)


def members_with_points(ctx: MetricContext, params: NoParams) -> ir.Table:
    return _holders(ctx, 1)  # points are whole numbers: a positive balance is at least 1


def redeemable_members(ctx: MetricContext, params: ThresholdParams) -> ir.Table:
    return _holders(ctx, params.redemption_threshold)


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
    orders = cv.with_slice(ctx, redeeming_orders(ctx))
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
    """Every valid order of P counts once in `_o`; the scored ones once in `_s`: those whose
    own fields say they earned, and the rest that an earn event is tied to (a second row,
    with `_o` = 0), so only the orders that do not earn by their fields are looked up."""
    orders = cv.in_period(ctx, cv.valid_orders(ctx, since=ctx.start, until=ctx.end, amounts=()),
                          "placed_at")
    tied = _earned_not_flagged(ctx, orders)
    one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
    rows = stack(orders.mutate(_o=one, _s=cv.indicator(_own(orders, "earn"))),
                  tied.mutate(_o=zero, _s=one))
    rows = cv.with_slice(ctx, rows)
    scored = rows._s.sum().coalesce(0)
    total = rows._o.sum().coalesce(0)
    return cv.summarize(rows, ctx, value=cv.ratio(scored, total), scored_orders=scored,
                        orders=total)


def _lot_events(ctx: MetricContext, until: datetime, earliest: datetime) -> ir.Table:
    """loyalty_events before `until` with `_lot`: the rows that belong to a lot, the lots
    themselves (points > 0) and the reversals tied to an order whose earn has an expiry; such
    a reversal takes the lot's `expires_at`, so it counts where its points came from.

    Only the reversals are joined to the lots, and only the earns of their orders are
    grouped into lots: every other event passes through as it is, so the whole ledger is
    never joined to itself. A ledger without reversals (asked first: a scan of `kind` that
    stops at the first one) has nothing to join, and its events are the lots' rows as they
    are. In a warm call the events other than reversals are those of a carried state as of
    `earliest` or before and the events since (`clientela.kpi.carried_ledger`); the
    reversals and the earns of their orders are read from the ledger."""
    events = ctx.table("loyalty_events")
    if not _has_reversals(events):
        return ledger(ctx, until, earliest=earliest)
    # a reversal and the earn of its lot: the same ledger (source), customer and order (the
    # order's key, its source and id)
    keys = ("source", "_osrc", "customer_id", "order_id")
    events = events.mutate(_osrc=order_source(events))
    reverse = events.filter(events.kind == "reverse")
    earns = events.filter((events.kind == "earn") & events.order_id.notnull()
                          & events.expires_at.notnull() & (events.points > 0))
    wanted = reverse.select(*[reverse[k].name(f"_w{k}") for k in keys]).distinct()
    earns = earns.semi_join(wanted, [earns[k] == wanted[f"_w{k}"] for k in keys])
    lots = earns.group_by([earns[k].name(f"_l{k}") for k in keys]).aggregate(
        _lx=earns.expires_at.max())
    # equality keys only: with `kind == 'reverse'` in the ON clause DuckDB falls back to a
    # nested-loop join (minutes at a million events); one lot per key, so no row doubles
    joined = reverse.left_join(lots, [reverse[k] == lots[f"_l{k}"] for k in keys])
    tied = joined._lx.notnull()
    reversals = joined.select(
        "customer_id", "occurred_at", "points",
        expires_at=ibis.ifelse(tied, joined._lx, joined.expires_at),
        _lot=(joined.points > 0) | tied)
    # every other event as it is (in a warm call, a carried state and the events since)
    plain = ledger(ctx, until, earliest=earliest, reversals=False)
    # a lot's expiry is that of every earn of its order, before `until` or not
    lots = stack(plain, reversals)
    return lots.filter(lots.occurred_at < until)


def _has_reversals(events: ir.Table) -> bool:
    """Whether the ledger holds any `reverse` event."""
    reverse = events.filter(events.kind == "reverse").limit(1)
    return bool(reverse.count().execute() > 0)


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
    events = _lot_events(ctx, ctx.end, ctx.start)
    # a lot expiring at or after the last period's horizon, or never, has b = n: never spent
    # first, never in a window, it moves nothing in any period (`keep` below leaves out its
    # three copies), so it is left out before the rows are repeated; most of a ledger's lots
    # in a warm call's newest month (those of the carried state), the recent ones cold
    events = events.filter(~(events._lot & (events.expires_at.isnull()
                                            | (events.expires_at >= horizons[-1]))))
    expires = events.expires_at
    steps = events.select(
        "customer_id", _pts=events.points.cast("int64"), _lot=events._lot,
        _a=cv.count_at_or_before(events.occurred_at, ends),
        _b=ibis.ifelse(expires.isnull(), n, cv.count_at_or_before(expires, horizons)),
        _c=ibis.ifelse(expires.isnull(), n, cv.count_at_or_before(expires, ends)))
    # each event read once and repeated three times (`_m`: 0 at a, 1 at b, 2 at c), each
    # copy kept where it moves something: a third less work than three passes over a
    # written-out table of the steps, stacked
    three = steps.select(*steps.columns, _m=ibis.range(0, 3).unnest())
    lot, pts, a, b, c = three._lot, three._pts, three._a, three._b, three._c
    m = three._m.cast("int64")
    # every event at a, but a lot expiring later is not spent first: it adds nothing then
    # (most earns), and is left out rather than summed; from b on it expires soon (at b it
    # joins _e, and the window if b < c); at c it leaves the window
    keep = ibis.ifelse(m == 0, ~(lot & (b > a)),
                       ibis.ifelse(m == 1, lot & (a < b) & (b < n),
                                   lot & (ibis.greatest(a, b) < c) & (c < n)))
    moves = three.filter(keep).select(
        "customer_id",
        _k=ibis.ifelse(m == 0, a, ibis.ifelse(m == 1, b, c)),
        _e=ibis.ifelse(m == 2, zero, pts),
        _w=ibis.ifelse(m == 0, ibis.ifelse(lot & (a < c), pts, zero),
                       ibis.ifelse(m == 1, ibis.ifelse(b < c, pts, zero), -pts)))
    return moves.group_by(["customer_id", "_k"]).aggregate(_e=moves._e.sum(),
                                                           _w=moves._w.sum())


def _expiry_state_series(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """customer_id, `_k`, `_until`, _early and _window (see _expiry_state): the customer's
    state as of the ends of periods `_k` to `_until - 1` (it changes in `_k`, and next in
    `_until`), from one pass over the events. Not spread over the periods (see
    `points_expiring`)."""
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    per = _expiry_steps(ctx, params)
    running = ibis.cumulative_window(group_by=per.customer_id, order_by=per._k)
    following = per._k.lead().over(ibis.window(group_by=per.customer_id, order_by=per._k))
    return per.select("customer_id", "_k", _until=following.coalesce(len(ctx.periods or ())),
                      _early=per._e.sum().over(running), _window=per._w.sum().over(running))


def _expiry_state(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """customer_id, _early (the balance less the points of lots expiring after the window)
    and _window (points of lots expiring in it) as of ctx.as_of, for the customers holding
    lots that expire in the window.

    One pass over the ledger: the rows `_lot_events` gives are every event before as_of
    with its own points (only a reversal's `_lot` and expiry differ from the ledger as it
    is), so the sum of those that are not lots expiring after the window is `_early`. The
    lots expiring after the window (or never) count in the balance and are taken out of it
    again, so they are left out before the grouping: in a warm call's newest month most of
    the kept ledger rows (228,310 of 293,470 at 1M orders), cold every lot earned in the last
    year or so. A customer without a lot expiring in the window has nothing to expire
    (`_window` is 0), so one is left out after it."""
    start = ctx.as_of
    horizon = start + timedelta(days=params.expiry_days)
    events = _lot_events(ctx, start, start)
    lot = events._lot
    later = lot & (events.expires_at.isnull() | (events.expires_at >= horizon))
    events = events.filter(events.customer_id.notnull() & ~later)
    in_window = events._lot & (events.expires_at >= start) & (events.expires_at < horizon)
    zero = ibis.literal(0, type="int64")
    points = events.points.cast("int64")
    per = events.group_by("customer_id").aggregate(
        _early=points.sum(), _window=ibis.ifelse(in_window, points, zero).sum(),
        _lots=cv.count_if(in_window))
    per = per.filter(per._lots > 0)
    return per.select("customer_id", "_early", "_window")


def points_expiring(ctx: MetricContext, params: ExpiryParams) -> ir.Table:
    """A series adds up each customer's steps per period (`_holders_at_each_end`): what
    is left to expire is constant from one change of the customer's state to the next, so
    a step counts its customer and points from `_k` until `_until`, where spreading each
    state over its periods made a row per customer and period."""
    series = bool(ctx.periods)
    state = _expiry_state_series(ctx, params) if series else _expiry_state(ctx, params)
    left = ibis.least(ibis.greatest(state._early, ibis.literal(0, type="int64")),
                      state._window)
    if series:
        held = state.select("customer_id", "_k", "_until", balance=left)
        totals = _holders_at_each_end(ctx, held.filter(held.balance > 0))
        slices = [SLICE_COLUMN] if ctx.by else []
        return totals.select(*slices, PERIOD_COLUMN, value=totals.points,
                             customers=totals.value)
    expiring = state.select("customer_id", points=left)
    expiring = cv.with_slice(ctx, expiring.filter(expiring.points > 0))
    return cv.summarize(expiring, ctx, value=expiring.points.sum().coalesce(0),
                        customers=expiring.count())


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
