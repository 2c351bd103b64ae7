"""A store asked for more purchases per customer than there are days still builds.

Issue: `clientela demo --customers 1000000 --orders 10000000` crashed in
`traffic_table` because `one_a_day` moved purchases of the fastest buyers
before the window's first day. The same happens on a tiny store asked for
hundreds of orders per customer in one year, which this test generates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clientela.cli.app import main
from clientela.cli.common import workspace
from clientela.demo import DemoBuilder, DemoData, generate
from clientela.demo.purchases import one_a_day
from clientela.store.store import Store

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


def test_clientela_demo_loads_the_dense_store_in_blocks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The command the issue's crash came from, on a store that needs the cap, in several
    blocks (one alpha for all, each block's buyers capped by their own days left)."""
    monkeypatch.setattr("clientela.demo.build.BLOCK_ORDERS", 1_000)
    monkeypatch.setattr(workspace, "store_override", None)
    assert DemoBuilder(customers=40, orders=8_000, years=1).n_blocks == 4
    store_path = tmp_path / "dense.duckdb"
    code = main(["--store", str(store_path), "demo", "--customers", "40", "--orders", "8000",
                 "--years", "1", "--no-report", "--no-pos"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    with Store(store_path, read_only=True) as store:
        assert store.incomplete_load() is None
        customers, orders, buyers = store.con.execute(
            "SELECT (SELECT count(*) FROM customers), count(*), count(DISTINCT customer_id)"
            " FROM orders").fetchone()
        # blocks of 10 customers: round(9.5) = 10 buyers each, so all 40 buy, asked for
        # 8,000 orders in 365 days; the cap leaves far fewer (3,782), all in the window
        assert (customers, buyers) == (40, 40)
        assert 1_000 < orders < 8_000
        first, last = store.con.execute(
            "SELECT min(placed_at - INTERVAL 3 HOUR)::DATE, max(placed_at - INTERVAL 3 HOUR)::DATE"
            " FROM orders").fetchone()
        assert str(first) >= "2025-01-01" and str(last) <= "2025-12-31"
        most, repeated = store.con.execute(
            """SELECT max(n), sum(n - days) FROM (
                   SELECT customer_id, count(*) AS n,
                          count(DISTINCT (placed_at - INTERVAL 3 HOUR)::DATE) AS days
                   FROM orders WHERE status NOT IN ('cancelled', 'refunded')
                   GROUP BY customer_id)""").fetchone()
        assert repeated == 0 and 300 < most <= 365  # the fastest buyer fills nearly every day
