"""A third-party metric plugin: the share of big-ticket orders.

Everything a plugin needs: one hook implementation calling `register`, one
Metric, and a compute function written with the engine's conventions so it
runs unchanged on DuckDB, PySpark and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import ibis
from pydantic import BaseModel, ConfigDict, Field

from clientela.hookspecs import hookimpl
from clientela.kpi import conventions as cv
from clientela.metrics.api import Metric

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi import MetricContext


class BigTicketParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Decimal = Field(default=Decimal(500), ge=0,
                               description="Revenue (reporting currency) that makes a ticket big.")


def big_ticket_share(ctx: MetricContext, params: BigTicketParams) -> ir.Table:
    orders = cv.period_orders(ctx)
    # count_if, not .cast("int64").sum(): PostgreSQL refuses CAST(boolean AS BIGINT)
    big = cv.count_if(orders.revenue >= ibis.literal(params.threshold, type=cv.MONEY))
    return cv.summarize(orders, ctx, value=cv.ratio(big, orders.count()),
                        big_orders=big, orders=orders.count())


BIG_TICKET_SHARE = Metric(
    name="big_ticket_share",
    title="Big-ticket share",
    title_pt="Participação de tíquetes altos",
    description="Share of valid orders whose revenue is at least `threshold` (500).",
    unit="ratio",
    compute=big_ticket_share,
    params=BigTicketParams,
    needs=("orders",),
    slices=("channel", "store_id", "salesperson_id", "acquisition_channel"),
    group="Example plugin",
    measures=("value", "big_orders", "orders"),
    series=True,  # it cuts time only through period_orders and groups by ctx.keys
)


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    register(BIG_TICKET_SHARE)
