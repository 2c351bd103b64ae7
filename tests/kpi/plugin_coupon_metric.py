"""A local plugin metric written as docs/plugin_hooks.md shows a plugin author: valid orders
that used a coupon, read from the valid orders' `coupon` column (`--plugin` or
`plugins.add_local_plugin` loads it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clientela.hookspecs import hookimpl
from clientela.kpi import conventions as cv
from clientela.metrics import Metric


def compute(ctx: Any, params: Any) -> Any:
    orders = cv.period_orders(ctx)
    return cv.summarize(orders, ctx, value=cv.count_if(orders.coupon.notnull()))


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    register(Metric(
        name="coupon_orders",
        title="Orders with a coupon",
        title_pt="Pedidos com cupom",
        description="Valid orders in the period that used a coupon.",
        unit="count",
        compute=compute,
        slices=("channel", "store_id"),
        series=True,
    ))
