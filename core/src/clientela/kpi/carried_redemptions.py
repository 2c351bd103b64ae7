"""The redeem events and the orders they name across a carried customer state's instant,
kept with the state, so that the newest period's redemption metrics read the records since
the state, not every redeeming order of the history.

A redemption of a period (docs/metrics.md, "Loyalty programme") is a redeem event dated in
it, which reads the order it names wherever that order was placed (valid or not, and its
loyalty discount), or a valid order placed in it that redeemed by its own fields and that
no redeem event names, however dated. Cold, that is one pass over every valid order with the
keys every redeem event names. With a state as of `T` at or before the period, a pair (redeem
event, order it names) is of one of four kinds:

- both at or after `T`: the events and orders since `T`, found by their dates;
- both before `T`: no redemption or order of the period;
- the event at or after `T`, the order before it: kept (`before` true), with whether that
  order is valid and its loyalty discount in the reporting currency (the order's own rate,
  so one row serves every reporting currency);
- the event before `T`, the order at or after it: kept (`before` false), so that order is
  not counted a second time as an order-only redemption.

The kept pairs cannot change while the state is kept: a write that adds, changes or moves
either side of a pair also logs the other side's date (`clientela.store.touched`: an order
and the loyalty events tied to it date each other), which is before `T`, and that drops
the state (`clientela.kpi.carried.drop_stale`). So the kept pairs and the records since `T`
name exactly the orders every redeem event names.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import ibis

from clientela.kpi.carried import carried_for
from clientela.kpi.retail import converted, invalid_order
from clientela.kpi.sql import stack
from clientela.store.touched import REDEEM_LINKS_TABLE

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

LINK_COLUMNS: tuple[str, ...] = ("source", "order_id", "before", "valid", "loyalty_value")
"""The kept rows' columns (besides the state's key and instant)."""


def order_source(events: ir.Table) -> ir.StringValue:
    """The source of the order an event names: its `order_source`, or else its own.

    A store opened read-only keeps the schema it was written with: one from before the
    column has none, and its events name orders of their own source."""
    if "order_source" not in events.columns:
        return events.source
    return events.order_source.coalesce(events.source)


def named_orders(ctx: MetricContext, kind: str, *, since: datetime | None = None,
                 until: datetime | None = None) -> ir.Table:
    """`_esrc`, `_eid`: the keys of the orders the events of `kind` dated in [since, until)
    are tied to, repeats and all: a semi- or anti-join needs no distinct pass over the
    ledger (a left join takes `.distinct()`)."""
    events = ctx.table("loyalty_events")
    events = events.filter((events.kind == kind) & events.order_id.notnull())
    if since is not None:
        events = events.filter(events.occurred_at >= since)
    if until is not None:
        events = events.filter(events.occurred_at < until)
    return events.select(_esrc=order_source(events), _eid=events.order_id)


def redeem_state_since(ctx: MetricContext, earliest: datetime) -> datetime | None:
    """The instant `T` of the carried state whose kept pairs let a question about
    redemptions at or after `earliest` read the records since `T`; None outside a warm
    call's carried state (then every redeeming order is read)."""
    carried = carried_for(ctx, earliest)
    return None if carried is None else carried.as_of


def kept_links(ctx: MetricContext, *, before: bool) -> ir.Table:
    """The pairs kept with this call's state (see above): orders placed before its instant
    (`before`), or at or after it."""
    carried = carried_for(ctx)
    assert carried is not None  # asked only after redeem_state_since found it
    kept = ctx.stored(REDEEM_LINKS_TABLE)
    return kept.filter((kept.state_key == carried.key) & (kept.as_of == carried.as_of)
                       & (kept.before == before))


def redeem_links(ctx: MetricContext, at: datetime) -> ir.Table:
    """The rows kept for a state as of `at` (LINK_COLUMNS), from the store as it is. Paid once
    per state: the orders before `at` are scanned once for the keys the events since name
    (valid or not, each valued as valid_orders values it), and the redeem events before it
    for the keys of the orders since."""
    later = named_orders(ctx, "redeem", since=at)
    orders = ctx.table("orders")
    orders = orders.filter(orders.placed_at < at)
    named = orders.semi_join(later, (orders.order_id == later._eid)
                             & (orders.source == later._esrc))
    value = converted(named, ("loyalty_value",))["loyalty_value"]
    valid = ~invalid_order(named)
    earlier = named_orders(ctx, "redeem", until=at)
    since = ctx.table("orders")
    since = since.filter(since.placed_at >= at)
    since = since.semi_join(earlier, (since.order_id == earlier._eid)
                            & (since.source == earlier._esrc))
    return stack(
        named.select("source", "order_id", before=ibis.literal(True), valid=valid,
                     loyalty_value=ibis.ifelse(valid, value, ibis.null(value.type()))),
        since.select("source", "order_id", before=ibis.literal(False), valid=~invalid_order(since),
                     loyalty_value=ibis.null(value.type())),
    )

