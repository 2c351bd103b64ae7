"""The loyalty ledger agrees with the orders and replays exactly under FIFO expiry."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pandas as pd

from clientela.demo import DemoData

KIND_RANK = {"expire": 0, "redeem": 1, "earn": 2}  # order of events at one instant


def _ledger(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    events = frames["loyalty_events"].copy()
    events["rank"] = events.kind.map(KIND_RANK)
    return events.sort_values(["customer_id", "occurred_at", "rank"], kind="stable")


def test_signs_and_kinds(frames: dict[str, pd.DataFrame]) -> None:
    events = frames["loyalty_events"]
    assert set(events.kind) == {"earn", "redeem", "expire"}
    assert (events.points[events.kind == "earn"] > 0).all()
    assert (events.points[events.kind != "earn"] < 0).all()
    earn = events[events.kind == "earn"]
    assert (earn.expires_at == earn.occurred_at + timedelta(days=365)).all()
    assert events.order_id[events.kind != "expire"].notna().all()
    assert events.order_id[events.kind == "expire"].isna().all()


def test_balance_never_negative(frames: dict[str, pd.DataFrame]) -> None:
    ledger = _ledger(frames)
    balance = ledger.groupby("customer_id").points.cumsum()
    assert (balance >= 0).all()


def test_orders_and_ledger_agree(frames: dict[str, pd.DataFrame]) -> None:
    events = frames["loyalty_events"]
    orders = frames["orders"].set_index("order_id")
    earned = events[events.kind == "earn"].groupby("order_id").points.sum()
    redeemed = -events[events.kind == "redeem"].groupby("order_id").points.sum()
    discount = events[events.kind == "redeem"].set_index("order_id").discount_value
    assert (orders.loyalty_points_earned.loc[earned.index] == earned).all()
    assert (orders.loyalty_points_earned.drop(earned.index) == 0).all()
    assert (orders.loyalty_points_redeemed.loc[redeemed.index] == redeemed).all()
    assert (orders.loyalty_points_redeemed.drop(redeemed.index) == 0).all()
    assert (orders.loyalty_discount.loc[discount.index] == discount).all()
    assert (orders.loyalty_discount.drop(discount.index) == 0).all()


def test_redemption_rules(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    rules = demo.truth.loyalty
    orders = frames["orders"]
    redeeming = orders[orders.loyalty_points_redeemed > 0]
    assert len(redeeming) > 50
    assert (redeeming.loyalty_points_redeemed % rules.redeem_block_points == 0).all()
    value = redeeming.loyalty_points_redeemed // rules.redeem_block_points \
        * rules.redeem_block_value
    assert (redeeming.loyalty_discount == value).all()
    net = redeeming.subtotal - redeeming.discount
    assert (net >= rules.min_purchase).all()
    assert (redeeming.loyalty_discount <= net * Decimal(str(rules.max_redeem_share))).all()
    invalid = orders.status.isin(["cancelled", "refunded"])
    assert (orders.loyalty_points_earned[invalid] == 0).all()
    assert (orders.loyalty_points_redeemed[invalid] == 0).all()
    no_programme = (orders.channel == "marketplace") | (orders.currency != "BRL")
    assert (orders.loyalty_points_earned[no_programme] == 0).all()
    scored = orders.loyalty_points_earned[~invalid] > 0
    assert 0.3 < scored.mean() < 0.8


@dataclass
class Lot:
    expires_at: pd.Timestamp
    left: int


def _replay(customer: str, moves: pd.DataFrame, until: pd.Timestamp) -> list[tuple[str, pd.Timestamp, int]]:
    """Expiries of one customer's points, spending and expiring the oldest lot first."""
    year = timedelta(days=365)
    lots: deque[Lot] = deque()
    expired: list[tuple[str, pd.Timestamp, int]] = []

    def expire_until(moment: pd.Timestamp) -> None:
        while lots and lots[0].expires_at <= moment:
            lot = lots.popleft()
            if lot.left:
                expired.append((customer, lot.expires_at, -lot.left))

    for row in moves.itertuples():
        expire_until(row.occurred_at)
        if row.kind == "earn":
            lots.append(Lot(row.occurred_at + year, int(row.points)))
            continue
        need = -int(row.points)
        while need:
            take = min(need, lots[0].left)
            lots[0].left -= take
            need -= take
            if lots[0].left == 0:
                lots.popleft()
    expire_until(until)
    return expired


def test_expiry_replays_first_in_first_out(
    demo: DemoData, frames: dict[str, pd.DataFrame]
) -> None:
    """Replay each customer's earns and redemptions with a lot queue; expiries must match."""
    window_end = pd.Timestamp(demo.truth.end) + pd.Timedelta(days=1, hours=3)
    ledger = _ledger(frames)
    moves = ledger[ledger.kind != "expire"]
    expected = [
        expiry
        for customer, rows in moves.groupby("customer_id", sort=True)
        for expiry in _replay(str(customer), rows, window_end - pd.Timedelta(microseconds=1))
    ]
    actual = ledger[ledger.kind == "expire"]
    got = sorted(zip(actual.customer_id, actual.occurred_at, actual.points, strict=True))
    assert got == sorted(expected)
    assert len(got) > 20
