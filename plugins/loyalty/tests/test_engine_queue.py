"""The columnar path (`clientela_loyalty.queue`) writes exactly what the replay writes for
the customers it takes: by hand, and over random histories."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
from _loyalty_support import at, order, scratch_store
from clientela_loyalty.history import read_adjustments, read_orders
from clientela_loyalty.ledger import _replay
from clientela_loyalty.queue import queue_ledger, queued
from clientela_loyalty.rules import LoyaltyRules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import END_DAY, START, Happening, _load, histories

from clientela.store import Store

TZ = "America/Sao_Paulo"


def _both(store: Store, rules: LoyaltyRules, until_us: int) -> tuple[pa.Table, pa.Table,
                                                                      int, int, int]:
    orders = read_orders(store.con, rules, until_us)
    adjustments = read_adjustments(store.con, until_us)
    mask = queued(orders, adjustments, rules, TZ, until_us)
    chosen = orders.take(mask)
    fast, capped = queue_ledger(chosen, rules, TZ, until_us)
    slow = _replay(chosen, adjustments.__class__(
        customer=pa.array([], pa.string()), event_id=[], at=adjustments.at[:0],
        points=adjustments.points[:0]), rules, TZ, until_us)
    order_by = [("event_id", "ascending")]
    return fast.sort_by(order_by), slow.table.sort_by(order_by), capped, slow.capped, \
        int(mask.sum())


def test_redemptions_span_lots_expire_the_rest_and_cap_by_hand() -> None:
    """Rate 1, no lock, lots expire after 1 month (UTC orders, São Paulo months):
    o1 (01-05) earns 300, o2 (01-15) earns 200; o3 (01-20, nothing to earn: excluded
    channel) redeems 400: 300 from o1's lot, 100 from o2's; o1's lot is spent (no expiry),
    o2's 100 expire on 02-15; o4 (03-01, excluded) asks 50 of an empty balance: capped.
    b's o5 is refunded after its points unlock: a reversal, so b is left to the replay."""
    store = scratch_store()
    store.upsert([
        order("o1", "a", "2025-01-05 12:00", 300),
        order("o2", "a", "2025-01-15 12:00", 200),
        order("o3", "a", "2025-01-20 12:00", 80, channel="marketplace",
              loyalty_points_redeemed=400),
        order("o4", "a", "2025-03-01 12:00", 80, channel="marketplace",
              loyalty_points_redeemed=50),
        order("o5", "b", "2025-01-05 12:00", 100, status="partially_refunded",
              refunded=Decimal(50), updated="2025-01-10 12:00"),
    ])
    rules = LoyaltyRules(lock_days=0, expiry_months=1, exclude_channels=["marketplace"])
    until_us = int(at("2025-04-01").timestamp() * 1_000_000)
    fast, slow, capped, slow_capped, chosen = _both(store, rules, until_us)
    assert chosen == 4  # a's orders; b has a reversal after the unlock
    rows = [(r["event_id"], r["points"], f"{r['occurred_at']:%m-%d %H:%M}")
            for r in fast.to_pylist()]
    assert rows == [("earn:4:shop:o1", 300, "01-05 12:00"), ("earn:4:shop:o2", 200, "01-15 12:00"),
                    ("expire:4:shop:o2", -100, "02-15 12:00"), ("redeem:4:shop:o3", -400, "01-20 12:00")]
    assert capped == 1 == slow_capped
    assert fast.equals(slow)


rules_strategy = st.builds(
    LoyaltyRules, lock_days=st.sampled_from([0, 3]), expiry_months=st.sampled_from([1, 2]),
    earn_rate=st.sampled_from([Decimal(1), Decimal("1.5")]),
    expire_at_month_end=st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), rules=rules_strategy)
def test_the_columnar_path_equals_the_replay(history: list[Happening],
                                             rules: LoyaltyRules) -> None:
    store = scratch_store()
    _load(store, history, END_DAY)
    until_us = int((START + timedelta(days=END_DAY)).timestamp() * 1_000_000)
    fast, slow, capped, slow_capped, _ = _both(store, rules, until_us)
    assert fast.to_pylist() == slow.to_pylist()
    assert capped == slow_capped
