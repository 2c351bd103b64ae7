"""Balances per person: the ledger stays keyed by record, the balance, the lots, the
audiences and the `loyalty` segmenter sum a person's records (`identity_links` by hand).

Maria earns 300 points online (`web-1`, o1 2025-03-01) and 300 at the till (`pos-77`,
o2 2025-05-01) with the default rules (1 point per currency unit, 12-month lots, 500 to
redeem): neither record alone can redeem, she can (600). João (`web-2`) earns 100.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from _loyalty_support import at, order, run_until, store_with
from clientela_loyalty import audiences
from clientela_loyalty.rules import LoyaltyRules
from clientela_loyalty.segmenter import LoyaltySegmentParams, loyalty_segments
from clientela_loyalty.statement import statement

from clientela.identity.analytics import identity_resolution
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.model import Customer
from clientela.store import Store

AT = at("2025-06-01")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    found = store_with(
        tmp_path / "p.duckdb",
        Customer(source="shop", customer_id="web-1", email="maria@example.com"),
        Customer(source="pos", customer_id="pos-77", cpf="529.982.247-25"),
        Customer(source="shop", customer_id="web-2", email="joao@example.com"),
        order("o1", "web-1", "2025-03-01", 300),
        order("o2", "pos-77", "2025-05-01", 300, channel="store"),
        order("o3", "web-2", "2025-04-01", 100))
    run_until(found, "2025-06-01")
    found.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p-maria', 'cpf', ?), "
                      "('pos-77', 'p-maria', 'cpf', ?)", [datetime(2025, 6, 1)] * 2)
    yield found
    found.close()


def test_the_ledger_stays_keyed_by_record(store: Store) -> None:
    rows = store.con.execute("SELECT customer_id, sum(points) FROM loyalty_events "
                             "GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("pos-77", 300), ("web-1", 300), ("web-2", 100)]


def test_a_statement_sums_her_records(store: Store) -> None:
    found = statement(store, "maria@example.com", AT)
    assert (found.customer_id, found.records, found.balance) == ("web-1", ("web-1", "pos-77"),
                                                                 600)
    assert sorted(found.lots.column("left").to_pylist()) == [300, 300]
    assert found.entries.column("order_id").to_pylist() == ["o1", "o2"]
    assert statement(store, "pos-77", AT).balance == 600
    with identity_resolution(False):
        assert statement(store, "pos-77", AT).balance == 300


def test_she_can_redeem_as_a_person(store: Store) -> None:
    rules = LoyaltyRules()
    found = audiences.redeemable_now(store, rules, AT).to_pylist()
    assert found == [{"customer_id": "p-maria", "balance": 600}]
    with identity_resolution(False):
        assert audiences.redeemable_now(store, rules, AT).num_rows == 0


def test_the_segmenter_reads_persons(store: Store) -> None:
    moment = AT.replace(tzinfo=None)
    backend = store.ibis()
    ctx = MetricContext(backend=backend, period=Period(moment, moment, moment, moment, "as_of"),
                        as_of=moment, timezone="UTC", currency="BRL", metric="test",
                        cache=TableCache(backend))
    rows = {r["customer_id"]: (r["segment"], r["balance"]) for r in
            loyalty_segments(ctx, LoyaltySegmentParams()).to_pyarrow().to_pylist()}
    # João's first points (April) are older than the 30-day window of `first_points`
    assert rows == {"p-maria": ("redeemable", 600), "web-2": ("with_points", 100)}


def test_a_redemption_at_the_till_takes_her_online_points(tmp_path: Path) -> None:
    """Maria earns 600 online in March; at the till in May she redeems 500. Replayed as a
    person the redemption is whole (kept under the till's record); as records it is capped
    at the till record's own 0."""
    def build(name: str, linked: bool) -> Store:
        found = store_with(
            tmp_path / name,
            Customer(source="shop", customer_id="web-1"),
            Customer(source="pos", customer_id="pos-77"),
            order("o1", "web-1", "2025-03-01", 600),
            order("o2", "pos-77", "2025-05-01", 100, channel="store",
                  loyalty_points_redeemed=500))
        if linked:
            found.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p', 'cpf', ?), "
                              "('pos-77', 'p', 'cpf', ?)", [datetime(2025, 6, 1)] * 2)
        return found

    apart, together = build("a.duckdb", False), build("b.duckdb", True)
    try:
        capped = run_until(apart, "2025-06-01").capped_redemptions
        summary = run_until(together, "2025-06-01")
        whole = summary.capped_redemptions
        rows = together.con.execute("SELECT event_id, customer_id, points FROM loyalty_events "
                                    "ORDER BY event_id").fetchall()
    finally:
        apart.close()
        together.close()
    assert (capped, whole) == (1, 0)
    assert (summary.members, summary.outstanding_points) == (1, 200)  # one person: 600+100-500
    assert rows == [("earn:4:shop:o1", "web-1", 600), ("earn:4:shop:o2", "pos-77", 100),
                    ("redeem:4:shop:o2", "pos-77", -500)]
