"""Orders and their lines: counts, money identities, statuses, currencies, channels, seasons."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest

from clientela.demo import DemoData, black_friday_week, mothers_day

LOCAL = pd.Timedelta(hours=3)  # the store's clock is UTC-3


def local_day(placed_at: pd.Series) -> pd.Series:
    return (placed_at - LOCAL).dt.date


def test_order_count_is_the_one_asked_for(demo: DemoData, demo_args: dict[str, int]) -> None:
    assert abs(demo["orders"].num_rows - demo_args["orders"]) <= 0.02 * demo_args["orders"]
    origins = demo.truth.orders_by_origin
    assert origins["first"] == demo.truth.buyers
    invalid = origins["cancelled"] + origins["refunded"]
    assert origins["first"] + origins["repeat"] + origins["campaign"] + invalid \
        == demo["orders"].num_rows


def test_money_adds_up_exactly(frames: dict[str, pd.DataFrame]) -> None:
    o = frames["orders"]
    total = o.subtotal - o.discount - o.loyalty_discount + o.shipping + o.tax
    assert (total == o.total).all()
    for column in ("subtotal", "discount", "shipping", "tax", "total", "refunded_amount",
                   "loyalty_discount"):
        assert (o[column] >= 0).all(), column
    assert (o.refunded_amount <= o.total).all()
    assert (o.tax == 0).all()  # Brazilian shelf prices include tax


def test_lines_add_up_to_their_order(frames: dict[str, pd.DataFrame]) -> None:
    lines = frames["order_lines"]
    gross = lines.unit_price * lines.quantity
    assert (lines.total == gross - lines.discount).all()
    assert (lines.discount >= 0).all() and (lines.discount <= gross).all()
    sums = pd.DataFrame({"order_id": lines.order_id, "gross": gross, "discount": lines.discount})
    per_order = sums.groupby("order_id").agg({"gross": "sum", "discount": "sum"})
    o = frames["orders"].set_index("order_id")
    assert per_order.index.sort_values().equals(o.index.sort_values())
    assert (per_order.gross == o.subtotal.loc[per_order.index]).all()
    assert (per_order.discount == o.discount.loc[per_order.index]).all()
    assert lines.category.nunique() == 5
    assert lines.product_id.nunique() > 100


def test_statuses_and_refunds(frames: dict[str, pd.DataFrame]) -> None:
    o = frames["orders"]
    share = o.status.value_counts(normalize=True)
    assert 0.025 <= share["cancelled"] <= 0.035
    assert 0.035 <= share["partially_refunded"] <= 0.045
    assert 0.005 <= share["refunded"] <= 0.015
    partial = o[o.status == "partially_refunded"]
    assert ((partial.refunded_amount > 0) & (partial.refunded_amount < partial.total)).all()
    full = o[o.status == "refunded"]
    assert (full.refunded_amount == full.total).all()
    others = o[~o.status.isin(["partially_refunded", "refunded"])]
    assert (others.refunded_amount == 0).all()
    assert (o.updated_at >= o.placed_at).all()
    assert {"pending", "paid", "fulfilled"} <= set(o.status)


def test_usd_orders_carry_a_rate(frames: dict[str, pd.DataFrame]) -> None:
    o = frames["orders"]
    usd = o.currency == "USD"
    assert set(o.currency) == {"BRL", "USD"}
    assert 0.01 <= usd.mean() <= 0.04
    assert o.fx_rate[usd].notna().all() and o.fx_rate[~usd].isna().all()
    assert ((o.fx_rate[usd] > Decimal(4)) & (o.fx_rate[usd] < Decimal(7))).all()


def test_channels_stores_and_salespeople(frames: dict[str, pd.DataFrame]) -> None:
    o = frames["orders"]
    assert set(o.channel) == {"online", "store", "app", "whatsapp", "marketplace"}
    assert set(o.store_id) == {"sp-paulista", "rj-ipanema", "bh-savassi", "ecommerce"}
    in_person = o.channel.isin(["store", "whatsapp"])
    assert o.salesperson_id[in_person].notna().all()
    assert o.salesperson_id[~in_person].isna().all()
    assert (o.store_id[~in_person] == "ecommerce").all()
    assert (o.store_id[in_person] != "ecommerce").all()
    assert o.salesperson_id.nunique() == 12
    assert o.coupon.notna().mean() > 0.05


def test_orders_inside_the_window(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    days = local_day(frames["orders"].placed_at)
    assert days.min() >= demo.truth.start and days.max() <= demo.truth.end
    ids = frames["orders"].order_id
    assert ids.is_monotonic_increasing
    assert frames["orders"].placed_at.is_monotonic_increasing  # keys follow time


def _daily(frames: dict[str, pd.DataFrame]) -> pd.Series:
    return local_day(frames["orders"].placed_at).value_counts()


@pytest.mark.parametrize("year", [2023, 2024, 2025])
def test_black_friday_week_is_busy(frames: dict[str, pd.DataFrame], year: int) -> None:
    daily = _daily(frames)
    monday, sunday = black_friday_week(year)
    ordinary = [monday - timedelta(days=21 - i) for i in range(7)]  # three weeks earlier
    busy = [monday + timedelta(days=i) for i in range(7)]
    assert sunday == busy[-1]
    ratio = daily.reindex(busy, fill_value=0).mean() / daily.reindex(ordinary, fill_value=0).mean()
    assert ratio > 1.5


@pytest.mark.parametrize("year", [2023, 2024, 2025])
def test_christmas_and_mothers_day_run_ups(frames: dict[str, pd.DataFrame], year: int) -> None:
    daily = _daily(frames)
    mom = mothers_day(year)
    run_up = [mom - timedelta(days=i) for i in range(1, 11)]
    before = [mom - timedelta(days=i) for i in range(25, 35)]
    assert daily.reindex(run_up, fill_value=0).mean() > 1.3 * daily.reindex(
        before, fill_value=0).mean()
    xmas = [pd.Timestamp(year, 12, d).date() for d in range(12, 24)]
    october = [pd.Timestamp(year, 10, d).date() for d in range(5, 17)]
    assert daily.reindex(xmas, fill_value=0).mean() > 1.5 * daily.reindex(
        october, fill_value=0).mean()
