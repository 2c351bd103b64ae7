"""The `loyalty` segmenter: every member in one journey-ready segment, as of a date.

Segments, the first that applies: `expiring` (points expire within
`expiring_days`), `redeemable` (balance reaches the threshold), `first_points`
(first points ever earned in the last `first_points_days`), `with_points`,
`no_points` (held points once, none now). Score columns carry what a message
needs: balance, points_expiring, next_expiry_at, next_expiry_points,
first_points_at.

The SQL is DuckDB's (the store's engine); it reads only `loyalty_events`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from clientela.segments.api import Segmenter
from clientela_loyalty.audiences import (
    LEDGER,
    balances_sql,
    expiring_sql,
    first_points_sql,
    ledger_source,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext


class LoyaltySegmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expiring_days: int = Field(default=30, ge=1, description="Horizon of `expiring`.")
    first_points_days: int = Field(default=30, ge=1, description="Window of `first_points`.")
    redemption_threshold: int = Field(default=500, ge=1,
                                      description="Points needed to be `redeemable`.")


def segment_sql(as_of: object, params: LoyaltySegmentParams, events: str = LEDGER) -> str:
    from datetime import datetime

    assert isinstance(as_of, datetime)
    since = as_of - timedelta(days=params.first_points_days)
    return f"""
        WITH b AS ({balances_sql(as_of, events)}),
        x AS ({expiring_sql(as_of, params.expiring_days, events)}),
        f AS ({first_points_sql(since, as_of, events)})
        SELECT b.customer_id,
               CASE WHEN coalesce(x.points_expiring, 0) > 0 THEN 'expiring'
                    WHEN b.balance >= {int(params.redemption_threshold)} THEN 'redeemable'
                    WHEN f.customer_id IS NOT NULL THEN 'first_points'
                    WHEN b.balance > 0 THEN 'with_points'
                    ELSE 'no_points' END AS segment,
               b.balance, coalesce(x.points_expiring, 0) AS points_expiring,
               x.next_expiry_at, x.next_expiry_points, f.first_points_at
        FROM b LEFT JOIN x USING (customer_id) LEFT JOIN f USING (customer_id)"""


def loyalty_segments(ctx: MetricContext, params: LoyaltySegmentParams) -> ir.Table:
    from clientela.kpi.persons import persons_apply

    # per person, like every segmenter reading the KPI context (see clientela.kpi.persons)
    events = ledger_source(persons_apply(ctx))
    table: ir.Table = ctx.backend.sql(segment_sql(ctx.as_of, params, events))
    return table


LOYALTY_SEGMENTER = Segmenter(
    name="loyalty",
    title="Loyalty audiences",
    description="Members by what a journey tells them: points expiring soon, able to redeem, "
    "first points, holding points, none left; with balance and next expiry.",
    segment=loyalty_segments,
    params=LoyaltySegmentParams,
)
