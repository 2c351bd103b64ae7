"""A store asked for more purchases per customer than there are days still builds.

Issue: `clientela demo --customers 1000000 --orders 10000000` crashed in
`traffic_table` because `one_a_day` moved purchases of the fastest buyers
before the window's first day. The same happens on a tiny store asked for
hundreds of orders per customer in one year, which this test generates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clientela.demo import DemoData, generate
from clientela.demo.purchases import one_a_day

LOCAL = pd.Timedelta(hours=3)  # the demo's local time is UTC-3


@pytest.fixture(scope="module")
def dense() -> DemoData:
    # 10 customers, 5,000 orders, 365 days: each buyer is asked for ~500 purchases
    return generate(customers=10, orders=5_000, seed=1, years=1)


def _valid(data: DemoData) -> pd.DataFrame:
    orders = data["orders"].select(["customer_id", "status", "placed_at"]).to_pandas()
    return orders[~orders.status.isin(["cancelled", "refunded"])]


def test_every_order_is_inside_the_window(dense: DemoData) -> None:
    orders = dense["orders"].to_pandas()
    local_day = (orders.placed_at - LOCAL).dt.tz_localize(None).dt.normalize()
    assert local_day.min() >= pd.Timestamp(dense.truth.start)
    assert local_day.max() <= pd.Timestamp(dense.truth.end)
    traffic = dense["traffic"].to_pandas()
    assert len(traffic) == 2 * 365 and (traffic.sessions >= 0).all()


def test_the_fastest_buyers_buy_every_day_left_and_no_more(dense: DemoData) -> None:
    valid = _valid(dense)
    day = (valid.placed_at - LOCAL).dt.tz_localize(None).dt.normalize()
    per_day = pd.DataFrame({"c": valid.customer_id, "d": day})
    assert not per_day.duplicated().any()  # one valid order a local day
    grouped = per_day.groupby("c").d
    first = grouped.min()
    days_left = (pd.Timestamp(dense.truth.end) - first).dt.days  # days after the first one
    repeats = grouped.size() - 1
    assert (repeats <= days_left).all()
    # the cap binds: some buyer was asked for more than the days left and buys on every one
    assert (repeats == days_left).any()
    truth = dense.truth.per_customer.to_pandas().set_index("customer_id")
    assert (truth.repeat_purchases == repeats.loc[truth.index]).all()


def test_moving_purchases_never_goes_before_a_customers_first_day() -> None:
    customer = np.array([0, 0, 0, 1, 1])
    time = np.array([7.5, 8.25, 8.5, 0.5, 0.75])  # customer 0 crowds its last two days
    moved = one_a_day(customer, time, n_days=10)
    assert moved.tolist() == [7.5, 8.25, 9.5, 0.5, 1.75]
    # three purchases in a two-day window: one would land before day 0
    with pytest.raises(ValueError, match="more purchases than days"):
        one_a_day(np.zeros(3, dtype=np.int64), np.array([0.5, 0.6, 1.7]), n_days=2)
