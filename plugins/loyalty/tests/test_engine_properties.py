"""Properties over random order histories with redemptions, refunds and cancellations:
no balance is ever negative, every lot gives back at most what it earned, a run every few
days (or every day) writes the very ledger one run over the whole history writes, and a
second run changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from _loyalty_support import at, order, scratch_store
from clientela_loyalty.engine import run
from clientela_loyalty.rules import LoyaltyRules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientela.store import Store

START = at("2025-01-01")
END_DAY = 150


@dataclass(frozen=True)
class Happening:
    order_id: str
    customer: str
    day: int
    hour: int
    total: int
    redeemed: int
    outcome: str
    """'kept', 'partial' or 'cancelled'"""
    after_days: int
    refunded_share: int
    """Percent of the total refunded, for 'partial'."""

    def as_known_on(self, day: int) -> object | None:
        """The order as the store holds it at the start of `day` (None before it exists)."""
        placed = START + timedelta(days=self.day, hours=self.hour)
        if placed >= START + timedelta(days=day):
            return None
        changed = placed + timedelta(days=self.after_days, hours=1)
        known = self.outcome != "kept" and changed < START + timedelta(days=day)
        kw: dict[str, object] = {}
        if known and self.outcome == "cancelled":
            kw = {"status": "cancelled", "updated": f"{changed:%Y-%m-%d %H:%M}"}
        elif known:
            kw = {"status": "partially_refunded", "updated": f"{changed:%Y-%m-%d %H:%M}",
                  "refunded": Decimal(self.total * self.refunded_share) / 100}
        return order(self.order_id, self.customer, f"{placed:%Y-%m-%d %H:%M}", self.total,
                     loyalty_points_redeemed=self.redeemed, **kw)


@st.composite
def histories(draw: st.DrawFn) -> list[Happening]:
    n = draw(st.integers(min_value=1, max_value=12))
    found = []
    for i in range(n):
        found.append(Happening(
            order_id=f"o{i}", customer=draw(st.sampled_from(["a", "b"])),
            day=draw(st.integers(0, 100)), hour=draw(st.integers(0, 23)),
            total=draw(st.integers(1, 900)),
            redeemed=draw(st.sampled_from([0, 0, 0, 100, 250, 500, 1200])),
            outcome=draw(st.sampled_from(["kept", "kept", "partial", "cancelled"])),
            after_days=draw(st.integers(0, 40)), refunded_share=draw(st.integers(1, 100))))
    return found


rules_strategy = st.builds(
    LoyaltyRules, lock_days=st.sampled_from([0, 3]), expiry_months=st.sampled_from([1, 2]),
    expiry=st.sampled_from(["lot", "last_purchase"]),
    earn_rate=st.sampled_from([Decimal(1), Decimal("1.5")]))


def _load(store: Store, history: list[Happening], day: int) -> None:
    known = [o for o in (h.as_known_on(day) for h in history) if o is not None]
    if known:
        store.upsert(known)  # type: ignore[arg-type]


def _rows(store: Store) -> list[tuple[object, ...]]:
    return store.con.execute(
        "SELECT event_id, customer_id, kind, points, occurred_at, order_id, expires_at "
        "FROM loyalty_events ORDER BY event_id").fetchall()


def _check_invariants(rows: list[tuple[object, ...]]) -> None:
    by_customer: dict[object, list[tuple[object, ...]]] = {}
    for row in rows:
        by_customer.setdefault(row[1], []).append(row)
    for events in by_customer.values():
        events.sort(key=lambda r: r[4])  # type: ignore[arg-type,return-value]
        instants = sorted({r[4] for r in events})  # type: ignore[type-var]
        for instant in instants:  # the balance right after every instant with an entry
            held = sum(int(r[3]) for r in events if r[4] <= instant)  # type: ignore[operator,call-overload]
            assert held >= 0, (instant, events)
        earned = {r[5]: int(r[3]) for r in events if r[2] == "earn"}  # type: ignore[call-overload]
        for r in events:
            sign = {"earn": 1, "redeem": -1, "expire": -1, "reverse": -1}[str(r[2])]
            assert int(r[3]) * sign > 0  # type: ignore[call-overload]
        for lot, points in earned.items():
            back = sum(-int(r[3]) for r in events  # type: ignore[call-overload]
                       if (r[2] == "reverse" and r[5] == lot) or r[0] == f"expire:4:shop:{lot}")
            assert back <= points


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), rules=rules_strategy,
       steps=st.lists(st.integers(1, 25), min_size=1, max_size=8))
def test_incremental_runs_equal_one_run_and_rerun_changes_nothing(
        history: list[Happening], rules: LoyaltyRules, steps: list[int]) -> None:
    whole = scratch_store()
    _load(whole, history, END_DAY)
    until = START + timedelta(days=END_DAY)
    run(whole, rules, until=until, timezone="America/Sao_Paulo")
    expected = _rows(whole)
    _check_invariants(expected)

    again = run(whole, rules, until=until, timezone="America/Sao_Paulo")
    assert _rows(whole) == expected
    assert (again.written["inserted"], again.written["updated"], again.written["deleted"]) \
        == (0, 0, 0)
    rebuilt = run(whole, rules, until=until, timezone="America/Sao_Paulo", rebuild=True)
    assert _rows(whole) == expected and rebuilt.written["updated"] == 0

    daily = scratch_store()
    day = 0
    for step in [*steps, END_DAY]:
        day = min(day + step, END_DAY)
        _load(daily, history, day)
        run(daily, rules, until=START + timedelta(days=day), timezone="America/Sao_Paulo")
        _check_invariants(_rows(daily))
        if day == END_DAY:
            break
    assert _rows(daily) == expected


@pytest.mark.slow
def test_day_by_day_equals_one_run() -> None:
    """A fixed history run every single day for 150 days, with a lock, refunds inside and
    after it, a cancellation, redemptions across lots and expiries."""
    history = [
        Happening("o1", "a", 0, 10, 400, 0, "kept", 0, 0),
        Happening("o2", "a", 5, 12, 300, 0, "partial", 2, 50),    # refunded inside the lock
        Happening("o3", "a", 20, 9, 100, 500, "partial", 10, 30),  # after it, after redeeming
        Happening("o4", "b", 3, 23, 800, 0, "cancelled", 30, 0),
        Happening("o5", "b", 40, 0, 50, 250, "kept", 0, 0),
        Happening("o6", "a", 70, 15, 600, 1200, "kept", 0, 0),
    ]
    rules = LoyaltyRules(lock_days=3, expiry_months=2)
    whole, daily = scratch_store(), scratch_store()
    _load(whole, history, END_DAY)
    run(whole, rules, until=START + timedelta(days=END_DAY), timezone="America/Sao_Paulo")
    for day in range(1, END_DAY + 1):
        _load(daily, history, day)
        run(daily, rules, until=START + timedelta(days=day), timezone="America/Sao_Paulo")
    assert _rows(daily) == _rows(whole)
    kinds = {str(row[2]) for row in _rows(whole)}
    assert kinds == {"earn", "redeem", "expire", "reverse"}
