"""Each customer's loyalty ledger carried forward between warm runs, beside the customer
state (`clientela.kpi.carried`), so that the newest period's balances and points about to
expire read that state plus the events since, not every event.

A balance as of an instant is the sum of a customer's signed events before it, and what
is left to expire after an instant `E` (docs/metrics.md, "Loyalty programme") needs, of
the events before `E`, only the balance and each lot (an event with points > 0) whose
`expires_at` is at or after `E`, or that never expires: a lot expiring before `E` counts in
the balance alone, like a redemption. So, for a state as of `T` and any instant at or after
it, the events before `T` are exactly summed up by, per customer:

- one row of what counts only in the balance (`lot` false): every event before `T` that is
  no lot (and no reversal: below), and every lot expiring before `T`;
- one row per `expires_at` (null: never) of the lots that expire at or after `T` (`lot`
  true), their points summed.

Points are whole numbers and sums of them exact, so the balances and the points expiring
read from these rows and the events since `T` are those every event gives. A state as of a
later instant is an older one plus the events between (its lots expiring before the new
instant fold into the balance row).

A `reverse` event tied to a lot takes that lot's expiry (of the latest earn of its order,
whenever earned), which an earn after `T` can change: so the reversals are not summed up
but read from the ledger as they are (they are few), and the expiry joins them to the earns
of their orders as it does cold.

The rows are kept with the customer state, under the same key and instant (table
`kpi_carried_ledger`), and dropped with it: a state is stale once a write of loyalty events
dated at or before its instant is logged (an event added, changed or backdated, an event
tied to an order placed before it), as for orders.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import ibis

from clientela.kpi.carried import carried_for
from clientela.kpi.sql import stack
from clientela.store.touched import LEDGER_TABLE

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.carried import Carried
    from clientela.kpi.context import MetricContext

LEDGER_COLUMNS: tuple[str, ...] = ("customer_id", "lot", "expires_at", "points")
"""The kept rows' columns (besides the state's key and instant)."""


def ledger(ctx: MetricContext, until: datetime, *, earliest: datetime,
           reversals: bool = True) -> ir.Table:
    """The loyalty events before `until` as the balance and expiry metrics read them:
    customer_id, occurred_at, points (int64), expires_at and `_lot` (points > 0). With a
    carried state as of an instant at or before `earliest` (the first instant the caller asks
    about), the events before that instant other than reversals are the state's rows, dated
    at it (see above), and its reversals are read as they are. Without one, every event
    before `until`. `reversals=False` leaves the `reverse` events out: the expiry joins them
    to their lots itself."""
    events = ctx.table("loyalty_events")
    events = events.filter(events.occurred_at < until)
    if not reversals:
        events = events.filter(_not_reversal(events))
    carried = carried_for(ctx, earliest)
    if carried is None:
        return _as_read(events)
    kept = ctx.stored(LEDGER_TABLE)
    kept = kept.filter((kept.state_key == carried.key) & (kept.as_of == carried.as_of))
    parts = [_as_read(events.filter(events.occurred_at >= carried.as_of)),
             kept.select("customer_id", occurred_at=kept.as_of, points=kept.points,
                         expires_at=kept.expires_at, _lot=kept.lot)]
    if reversals:  # few, and skipped by the scan where a row group holds none
        before = events.filter((events.occurred_at < carried.as_of) & ~_not_reversal(events))
        parts.append(_as_read(before))
    return stack(*parts)


def _not_reversal(events: ir.Table) -> ir.BooleanValue:
    return events.kind.isnull() | (events.kind != "reverse")


def _as_read(events: ir.Table) -> ir.Table:
    return events.select("customer_id", "occurred_at", points=events.points.cast("int64"),
                         expires_at=events.expires_at, _lot=events.points > 0)


def ledger_state(ctx: MetricContext, at: datetime, older: Carried | None) -> ir.Table:
    """The rows kept for a state as of `at` (LEDGER_COLUMNS): from every event before `at`
    but the reversals, or from the `older` state's rows and the events between its instant
    and `at`."""
    events = ctx.table("loyalty_events")
    events = events.filter((events.occurred_at < at) & _not_reversal(events))
    if older is not None:
        events = events.filter(events.occurred_at >= older.as_of)
    rows = events.select("customer_id", lot=events.points > 0, expires_at=events.expires_at,
                         points=events.points.cast("int64"))
    if older is not None:
        kept = ctx.stored(LEDGER_TABLE)
        kept = kept.filter((kept.state_key == older.key) & (kept.as_of == older.as_of))
        rows = stack(rows, kept.select(*LEDGER_COLUMNS))
    # a lot expiring before `at` counts in the balance alone, from `at` on
    lot = rows.lot & (rows.expires_at.isnull() | (rows.expires_at >= at))
    rows = rows.select("customer_id", lot=lot,
                       expires_at=ibis.ifelse(lot, rows.expires_at, ibis.null(rows.expires_at.type())),
                       points=rows.points)
    rows = rows.group_by(["customer_id", "lot", "expires_at"]).aggregate(
        points=rows.points.sum())
    return rows.filter(rows.points != 0)
