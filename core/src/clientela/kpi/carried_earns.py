"""The orders placed since a carried customer state's instant that an earn event dated
before it names, kept with the state, so that the newest period's scored orders read the
earn events since the state, not every earn event ever.

An order of a period scored points (docs/metrics.md, "Loyalty programme") when its own
fields say it earned, or an earn event names it, however dated. Cold, the orders whose
fields say nothing are looked up among the keys of every earn event (millions of rows at
10M orders). With a state as of `T` at or before the period, the period's orders are placed
at or after `T`, and an earn event naming one of them is dated at or after `T` (found by
its date) or before it: those pairs are kept (table `kpi_carried_earn_links`), usually
none.

They cannot change while the state is kept: an earn event dated before `T` written, changed
or moved logs its date, and an order written logs the dates of the loyalty events tied to
it (`clientela.store.touched`), which for such a pair is before `T`; either drops the state
(`clientela.kpi.carried.drop_stale`). So the kept keys and the earn events since `T` name
exactly the period's orders every earn event names.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from clientela.kpi.carried import carried_for
from clientela.kpi.carried_redemptions import named_orders
from clientela.kpi.sql import stack
from clientela.store.touched import EARN_LINKS_TABLE

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

EARN_LINK_COLUMNS: tuple[str, ...] = ("source", "order_id")
"""The kept rows' columns (besides the state's key and instant)."""


def earned_orders(ctx: MetricContext, earliest: datetime) -> ir.Table:
    """`_esrc`, `_eid`: keys naming every order placed at or after `earliest` that an earn
    event names (repeats and all, and keys of other orders too: for a semi-join). With a
    carried state as of an instant at or before `earliest`, the earn events since that
    instant and the state's kept keys; without one, every earn event."""
    carried = carried_for(ctx, earliest)
    if carried is None:
        return named_orders(ctx, "earn")
    kept = ctx.stored(EARN_LINKS_TABLE)
    kept = kept.filter((kept.state_key == carried.key) & (kept.as_of == carried.as_of))
    return stack(named_orders(ctx, "earn", since=carried.as_of),
                 kept.select(_esrc=kept.source, _eid=kept.order_id))


def earn_links(ctx: MetricContext, at: datetime) -> ir.Table:
    """The rows kept for a state as of `at` (EARN_LINK_COLUMNS), from the store as it is:
    the orders placed at or after `at` that an earn event dated before it names, valid or
    not (the metric asks for the valid ones). Paid once per state: a scan of the earn events
    before `at` against the keys of the orders since."""
    earlier = named_orders(ctx, "earn", until=at)
    orders = ctx.table("orders")
    orders = orders.filter(orders.placed_at >= at)
    named = orders.semi_join(earlier, (orders.order_id == earlier._eid)
                             & (orders.source == earlier._esrc))
    return named.select(*EARN_LINK_COLUMNS)
