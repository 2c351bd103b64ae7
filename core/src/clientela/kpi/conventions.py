"""One import for metric authors: the conventions of docs/metrics.md, gathered.

    from clientela.kpi import conventions as cv

Each convention lives in the module of its job, and this namespace re-exports them so a
metric (built-in or a plugin's) reads `cv.valid_orders`, `cv.ratio`, `cv.in_period`:

- `clientela.kpi.retail`: valid orders, amounts in the reporting currency, first orders;
- `clientela.kpi.slicing`: the `slice` column and aggregation by slice;
- `clientela.kpi.series`: cutting rows into a series' periods, state at each period's end;
- `clientela.kpi.history`: customer histories as of an instant or each period's end;
- `clientela.kpi.localtime`: days between instants, local days and months (time in SQL;
  the calendar itself, bounds and buckets, is `clientela.kpi.periods`);
- `clientela.kpi.sql`: portable SQL helpers (ratio, count_if, mean, indicator, median).

Nothing here is engine-specific: every metric runs alike on DuckDB, PySpark and PostgreSQL.
"""

from __future__ import annotations

from clientela.kpi.history import customer_history, history_at, history_totals
from clientela.kpi.localtime import (
    SECONDS_PER_DAY,
    calendar_days_between,
    days_between,
    epoch,
    first_day,
    local_months,
    month_label,
    month_number,
    with_month,
)
from clientela.kpi.retail import (
    AMOUNTS,
    ORDER_COLUMNS,
    first_order_at,
    first_order_times,
    first_orders,
    invalid_order,
    valid_orders,
)
from clientela.kpi.series import (
    at_each_end,
    in_period,
    in_period_days,
    period_customers,
    period_orders,
    with_prior,
)
from clientela.kpi.slicing import (
    as_item,
    customer_dim,
    join_keys,
    segments,
    slice_dims,
    summarize,
    with_slice,
)
from clientela.kpi.sql import (
    MONEY,
    bucket_index,
    count_at_or_before,
    count_if,
    indicator,
    mean,
    median_of,
    money_sum,
    pick_value,
    ratio,
    to_money,
)

__all__ = [
    "AMOUNTS", "MONEY", "ORDER_COLUMNS", "SECONDS_PER_DAY", "as_item", "at_each_end",
    "bucket_index", "calendar_days_between", "count_at_or_before", "count_if",
    "customer_dim", "customer_history", "days_between", "epoch",
    "first_day", "first_order_at", "first_order_times", "first_orders", "history_at",
    "history_totals", "in_period", "in_period_days", "indicator", "invalid_order",
    "join_keys", "local_months", "mean", "median_of",
    "money_sum", "month_label", "month_number", "period_customers", "period_orders",
    "pick_value", "ratio", "segments", "slice_dims", "summarize", "to_money",
    "valid_orders", "with_month", "with_prior", "with_slice",
]
