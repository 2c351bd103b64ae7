"""The replay runs in parts of customers (to bound its memory): any part size writes the
same ledger, adjustments included, also for a customer adjusted but without orders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _loyalty_support import at, order, scratch_store
from clientela_loyalty import ledger as ledger_module
from clientela_loyalty.adjust import Adjustment, write_adjustments
from clientela_loyalty.engine import run
from clientela_loyalty.rules import LoyaltyRules
from hypothesis import HealthCheck, given, settings
from test_engine_properties import END_DAY, START, Happening, _load, _rows, histories

RULES = LoyaltyRules(lock_days=0, expiry="last_purchase", expiry_months=2)


def _ledger(part: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    monkeypatch.setattr(ledger_module, "REPLAY_PART_ORDERS", part)
    store = scratch_store()
    store.upsert([order(f"o{i}", c, f"2025-01-{i + 1:02d} 10:00", 100 + i,
                        loyalty_points_redeemed=150 if i % 3 == 2 else 0)
                  for i, c in enumerate(["a", "a", "a", "c", "c", "e", "e", "e", "g"])])
    write_adjustments(store, RULES, "UTC", [
        Adjustment("a", 40, at("2025-01-02 12:00"), key="k1"),
        Adjustment("b", 70, at("2025-01-03 12:00"), key="k2"),  # no orders, between a and c
        Adjustment("e", 25, at("2025-01-04 12:00"), key="k3"),
        Adjustment("z", 10, at("2025-01-05 12:00"), key="k4"),  # no orders, after everyone
    ])
    run(store, RULES, until=at("2025-06-01"), timezone="UTC")
    return _rows(store)


def test_every_part_size_writes_the_same_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _ledger(1_000_000, monkeypatch)
    # the adjusted customers without orders keep their lots and see them expire
    assert ("expire:adjust:k2", "b", "expire", -70) in [r[:4] for r in whole]
    assert ("expire:adjust:k4", "z", "expire", -10) in [r[:4] for r in whole]
    for part in (1, 2, 3, 4):
        assert _ledger(part, monkeypatch) == whole


@settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_random_histories_in_parts_of_one_order(history: list[Happening],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for part in (1_000_000, 1):
        monkeypatch.setattr(ledger_module, "REPLAY_PART_ORDERS", part)
        store = scratch_store()
        _load(store, history, END_DAY)
        run(store, RULES, until=START + timedelta(days=END_DAY), timezone="UTC")
        results.append(_rows(store))
    assert results[0] == results[1]
