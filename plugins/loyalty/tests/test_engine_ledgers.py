"""Ledgers computed by hand, one rule at a time; each expected row is derived in the docstring
or the comment next to it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from _loyalty_support import at, balance, customer, ledger, line, order, run_until, store_with
from clientela_loyalty.adjust import Adjustment, AdjustmentError, write_adjustments
from clientela_loyalty.audiences import tier_changes
from clientela_loyalty.rules import LoyaltyRules, Tier


def test_earn_rounds_down_per_order_on_net_paid_value(clientela_store_target: str, tmp_path: Path) -> None:
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01 10:00", "129.99", shipping=10),  # 119.99 x 1.5 = 179.985
        order("o2", "c", "2025-01-02 10:00", "0.66"),                   # 0.99 -> 0: no entry
        order("o3", "c", "2025-01-03 10:00", "10.00", currency="USD",   # 10 x 5.1234 = 51.23
              fx_rate=Decimal("5.1234")),                               # x 1.5 = 76.845 -> 76
    )
    run_until(store, "2025-02-01", LoyaltyRules(earn_rate=Decimal("1.5")))
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 179, "2025-01-01 10:00", "2026-01-01 10:00"),
        ("earn:4:shop:o3", "earn", 76, "2025-01-03 10:00", "2026-01-03 10:00"),
    ]


def test_lock_window(clientela_store_target: str, tmp_path: Path) -> None:
    """7 days of lock: points appear a week after the order; a refund or cancellation inside
    the week shrinks the lot itself (no reversal); locked points cannot be redeemed."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01 10:00", 100),
        order("o2", "c", "2025-01-03 10:00", 10, loyalty_points_redeemed=50),  # holds 0: capped
        order("o3", "c", "2025-02-01 10:00", 200, status="partially_refunded", refunded=50,
              updated="2025-02-03 00:00"),                                      # 200 x 150/200
        order("o4", "c", "2025-03-01 10:00", 80, status="cancelled", updated="2025-03-02 00:00"),
    )
    rules = LoyaltyRules(lock_days=7)
    first = run_until(store, "2025-01-05", rules)
    assert ledger(store) == []
    assert first.capped_redemptions == 1
    run_until(store, "2025-04-01", rules)
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 100, "2025-01-08 10:00", "2026-01-01 10:00"),
        ("earn:4:shop:o2", "earn", 10, "2025-01-10 10:00", "2026-01-03 10:00"),
        ("earn:4:shop:o3", "earn", 150, "2025-02-08 10:00", "2026-02-01 10:00"),
    ]


def test_partial_full_and_spanning_redemptions(clientela_store_target: str, tmp_path: Path) -> None:
    """Lots 300 (exp 2026-01-01) and 400 (2026-02-01); redeeming 500 takes all of the first
    and 200 of the second; redeeming 300 later takes the second's 200 and the 100 earned on
    March 1st (full redemption). Only the 50 earned in April is left, and only it expires."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01", 300),
        order("o2", "c", "2025-02-01", 400),
        order("o3", "c", "2025-03-01", 100, loyalty_points_redeemed=500),
        order("o4", "c", "2025-04-01", 50, loyalty_points_redeemed=300),
    )
    run_until(store, "2026-06-01")
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 300, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("earn:4:shop:o2", "earn", 400, "2025-02-01 00:00", "2026-02-01 00:00"),
        ("redeem:4:shop:o3", "redeem", -500, "2025-03-01 00:00", None),
        ("earn:4:shop:o3", "earn", 100, "2025-03-01 00:00", "2026-03-01 00:00"),
        ("redeem:4:shop:o4", "redeem", -300, "2025-04-01 00:00", None),
        ("earn:4:shop:o4", "earn", 50, "2025-04-01 00:00", "2026-04-01 00:00"),
        ("expire:4:shop:o4", "expire", -50, "2026-04-01 00:00", None),
    ]
    assert balance(store, "c", "2026-03-31") == 50
    assert balance(store, "c") == 0


def test_refund_after_partial_redemption_and_cancellation(
        clientela_store_target: str, tmp_path: Path) -> None:
    """o1 earns 1000; 700 of it is redeemed on o2; refunding 600 of o1's 1000 would take back
    600 points, but only 300 are left of that lot: reverse -300 (the balance stays >= 0).
    Cancelling o2 takes back its own 200. Customer d: earn 100, cancelled, reverse -100."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01", 1000, status="partially_refunded", refunded=600,
              updated="2025-01-20"),
        order("o2", "c", "2025-01-10", 200, loyalty_points_redeemed=700, status="cancelled",
              updated="2025-02-01"),
        order("o5", "d", "2025-01-01", 100, status="cancelled", updated="2025-01-15"),
    )
    run_until(store, "2025-06-01")
    assert ledger(store, "c") == [
        ("earn:4:shop:o1", "earn", 1000, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("redeem:4:shop:o2", "redeem", -700, "2025-01-10 00:00", None),
        ("earn:4:shop:o2", "earn", 200, "2025-01-10 00:00", "2026-01-10 00:00"),
        ("reverse:4:shop:o1", "reverse", -300, "2025-01-20 00:00", None),
        ("reverse:4:shop:o2", "reverse", -200, "2025-02-01 00:00", None),
    ]
    assert ledger(store, "d") == [
        ("earn:4:shop:o5", "earn", 100, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("reverse:4:shop:o5", "reverse", -100, "2025-01-15 00:00", None),
    ]
    assert balance(store, "c") == 0 and balance(store, "d") == 0


def test_proportional_reversal_before_redemption(clientela_store_target: str, tmp_path: Path) -> None:
    """Refunding 25.00 of 100.00 takes back 100 - floor(100 x 75/100) = 25 points; the lot's
    remaining 75 expire."""
    store = store_with(clientela_store_target,
                       order("o1", "c", "2025-01-03 12:00", 100, status="partially_refunded",
                             refunded=25, updated="2025-01-20"))
    run_until(store, "2025-03-01", LoyaltyRules(expiry_months=1))
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 100, "2025-01-03 12:00", "2025-02-03 12:00"),
        ("reverse:4:shop:o1", "reverse", -25, "2025-01-20 00:00", None),
        ("expire:4:shop:o1", "expire", -75, "2025-02-03 12:00", None),
    ]


@pytest.mark.parametrize(("month_end", "expires"), [
    # 31 Aug 2018 12:00 -03 + 3 months = 30 Nov 12:00, when São Paulo kept DST (-02): 14:00 UTC
    (False, "2018-11-30 14:00"),
    # the end of November, local: 1 Dec 00:00 -02 = 02:00 UTC
    (True, "2018-12-01 02:00"),
])
def test_expiry_at_month_end_across_dst_in_sao_paulo(
        clientela_store_target: str, tmp_path: Path, month_end: bool, expires: str) -> None:
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2018-08-31 15:00", 100),
        # 30 Nov 2018 11:00 -02 (DST) + 3 months = 28 Feb 2019 11:00, after DST ended: -03
        order("o2", "c", "2018-11-30 13:00", 40),
    )
    rules = LoyaltyRules(expiry_months=3, expire_at_month_end=month_end)
    run_until(store, "2019-04-01", rules, timezone="America/Sao_Paulo")
    second = "2019-03-01 03:00" if month_end else "2019-02-28 14:00"  # 1 Mar 00:00 -03
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 100, "2018-08-31 15:00", expires),
        ("earn:4:shop:o2", "earn", 40, "2018-11-30 13:00", second),  # an hour before o1 expires
        ("expire:4:shop:o1", "expire", -100, expires, None),
        ("expire:4:shop:o2", "expire", -40, second, None),
    ]


def test_points_expire_months_after_the_last_purchase(clientela_store_target: str, tmp_path: Path) -> None:
    """Every point expires 2 months after the last valid purchase: o2 on Feb 20 moves o1's
    deadline to Apr 20, an excluded (non-earning) purchase on Apr 10 moves both to Jun 10."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-10", 100),
        order("o2", "c", "2025-02-20", 50),
        order("o3", "c", "2025-04-10", 10, channel="marketplace"),
    )
    rules = LoyaltyRules(expiry="last_purchase", expiry_months=2, exclude_channels=["marketplace"])
    run_until(store, "2025-04-01", rules)
    assert [row[4] for row in ledger(store)] == ["2025-04-20 00:00", "2025-04-20 00:00"]
    run_until(store, "2025-07-01", rules)
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 100, "2025-01-10 00:00", "2025-06-10 00:00"),
        ("earn:4:shop:o2", "earn", 50, "2025-02-20 00:00", "2025-06-10 00:00"),
        ("expire:4:shop:o1", "expire", -100, "2025-06-10 00:00", None),
        ("expire:4:shop:o2", "expire", -50, "2025-06-10 00:00", None),
    ]


def test_tiers_up_at_once_and_down_at_the_review(clientela_store_target: str, tmp_path: Path) -> None:
    """silver from 1,000 of 12-month spend (x1.5), gold from 3,000 (x2), reviewed every
    January 1st. o1 (1000 pts, no tier) -> silver; o2 earns 2000 x 1.5 = 3000 -> gold;
    o3 100 x 2 = 200. At the 2025 review the window holds 3,100: gold stays. o4 (May 2025)
    earns 200 at gold though the window holds only 200 by then. At the 2026 review it holds
    100 (o4): down to no tier, so o5 earns 100."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2024-02-01", 1000),
        order("o2", "c", "2024-03-01", 2000),
        order("o3", "c", "2024-06-01", 100),
        order("o4", "c", "2025-05-01", 100),
        order("o5", "c", "2026-02-01", 100),
    )
    rules = LoyaltyRules(tiers=[Tier(name="silver", min_spend=Decimal(1000),
                                     multiplier=Decimal("1.5")),
                                Tier(name="gold", min_spend=Decimal(3000), multiplier=Decimal(2))])
    run_until(store, "2026-03-01", rules)
    earned = [(e, p) for e, k, p, _, _ in ledger(store) if k == "earn"]
    assert earned == [("earn:4:shop:o1", 1000), ("earn:4:shop:o2", 3000),
                      ("earn:4:shop:o3", 200), ("earn:4:shop:o4", 200), ("earn:4:shop:o5", 100)]
    assert balance(store, "c", "2026-03-01") == 300  # o1, o2, o3 expired after 12 months
    changes = tier_changes(store, rules, "UTC", at("2024-01-01"), at("2026-03-01")).to_pylist()
    assert [(c["changed_at"].strftime("%Y-%m-%d"), c["tier_before"], c["tier_after"],
             c["direction"]) for c in changes] == [
        ("2024-02-01", None, "silver", "up"), ("2024-03-01", "silver", "gold", "up"),
        ("2026-01-01", "gold", None, "down")]


def test_excluded_skus_and_stores(clientela_store_target: str, tmp_path: Path) -> None:
    """o1: 110 with 10 shipping, lines GIFT 60 + B 40: 100 x 40/100 = 40 points.
    o2 comes from an excluded store: nothing."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01", 110, shipping=10),
        line("o1", "1", "GIFT", 60), line("o1", "2", "B", 40),
        order("o2", "c", "2025-01-02", 500, store_id="s9"),
    )
    run_until(store, "2025-02-01", LoyaltyRules(exclude_skus=["GIFT"], exclude_stores=["s9"]))
    assert ledger(store) == [("earn:4:shop:o1", "earn", 40, "2025-01-01 00:00", "2026-01-01 00:00")]


def test_adjustments_are_lots_and_never_overdraw(clientela_store_target: str, tmp_path: Path) -> None:
    store = store_with(clientela_store_target, customer("c"),
                       order("o1", "c", "2025-01-01", 100))
    rules = LoyaltyRules(expiry_months=6)
    run_until(store, "2025-02-01", rules)
    with pytest.raises(AdjustmentError, match="points: -150 would leave a negative balance"):
        write_adjustments(store, rules, "UTC", [Adjustment("c", -150, at("2025-01-10"))])
    write_adjustments(store, rules, "UTC", [Adjustment("c", 30, at("2025-01-05"), "gift"),
                                            Adjustment("c", -120, at("2025-01-10"), "fix")])
    run_until(store, "2025-12-01", rules)
    # -120 takes the 100 of o1 (expiring July 1st) and 20 of the gift (July 5th): 10 expire
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 100, "2025-01-01 00:00", "2025-07-01 00:00"),
        ("adjust:gift", "adjust", 30, "2025-01-05 00:00", "2025-07-05 00:00"),
        ("adjust:fix", "adjust", -120, "2025-01-10 00:00", None),
        ("expire:adjust:gift", "expire", -10, "2025-07-05 00:00", None),
    ]


def test_reversal_overdraw_leaves_a_debt_that_later_points_pay(
        clientela_store_target: str, tmp_path: Path) -> None:
    """With reversal_overdraw, refunding all of o1 (1000 points) after 800 were redeemed takes
    its lot's 200, o2's 100 and leaves 700 owed: the balance is -700 until o3's 1000 points
    pay the debt; 300 of them are left, and only those expire."""
    store = store_with(
        clientela_store_target,
        order("o1", "c", "2025-01-01", 1000, status="refunded", refunded=1000,
              updated="2025-01-20"),
        order("o2", "c", "2025-01-10", 100, loyalty_points_redeemed=800),
        order("o3", "c", "2025-02-01", 1000),
    )
    rules = LoyaltyRules(reversal_overdraw=True, expiry_months=2)
    run_until(store, "2025-06-01", rules)
    assert ledger(store) == [
        ("earn:4:shop:o1", "earn", 1000, "2025-01-01 00:00", "2025-03-01 00:00"),
        ("redeem:4:shop:o2", "redeem", -800, "2025-01-10 00:00", None),
        ("earn:4:shop:o2", "earn", 100, "2025-01-10 00:00", "2025-03-10 00:00"),
        ("reverse:4:shop:o1", "reverse", -1000, "2025-01-20 00:00", None),
        ("earn:4:shop:o3", "earn", 1000, "2025-02-01 00:00", "2025-04-01 00:00"),
        ("expire:4:shop:o3", "expire", -300, "2025-04-01 00:00", None),
    ]
    assert balance(store, "c", "2025-01-25") == -700
    assert balance(store, "c", "2025-02-02") == 300
    assert balance(store, "c") == 0
