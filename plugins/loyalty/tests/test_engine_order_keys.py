"""An order is known by its source and id: two sources' orders "1001" are two orders, and the
engine's event ids must keep both (its rows are all under source `loyalty`, keyed by
(source, event_id)). Before the ids named the order's source, both earned `earn:1001` and
one overwrote the other. Every expected value is worked out in the comments."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from _loyalty_support import at, balance, ledger, order, run_until, store_with
from clientela_loyalty.adjust import Adjustment, write_adjustments
from clientela_loyalty.audiences import expiring_within
from clientela_loyalty.ids import order_key
from clientela_loyalty.rules import LoyaltyRules

from clientela.model import Customer
from clientela.store import Store


def test_the_order_key_is_injective_where_a_plain_separator_is_not() -> None:
    # with `source:order_id`, ("a:b", "c") and ("a", "b:c") would both be "a:b:c"
    assert order_key("a:b", "c") == "3:a:b:c"
    assert order_key("a", "b:c") == "1:a:b:c"
    assert order_key("shop", "1001") == "4:shop:1001"


def test_one_customer_earns_on_two_sources_orders_with_one_id(tmp_path: Path) -> None:
    """Online order "1001" (100.00) and till order "1001" (250.00): two lots of 100 and 250
    (1 point per unit, expiring 12 months on), a balance of 350. The customer's lots form a
    queue, so these rows come from `queue.queue_ledger`."""
    store = store_with(tmp_path / "s.duckdb",
                       order("1001", "c", "2025-01-01", 100),
                       order("1001", "c", "2025-01-02", 250, source="pos"))
    run_until(store, "2025-02-01")
    assert ledger(store) == [
        ("earn:4:shop:1001", "earn", 100, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("earn:3:pos:1001", "earn", 250, "2025-01-02 00:00", "2026-01-02 00:00"),
    ]
    assert balance(store, "c") == 350
    assert store.con.execute(
        "SELECT event_id, order_source, order_id FROM loyalty_events ORDER BY event_id"
    ).fetchall() == [("earn:3:pos:1001", "pos", "1001"), ("earn:4:shop:1001", "shop", "1001")]


def test_two_customers_orders_with_one_id_each_get_their_points(tmp_path: Path) -> None:
    """a's online "1001" earns 100 (queued); b's till "1001" earns 250, then 50.00 of it is
    refunded on the 20th, after the points unlocked: 250 - floor(250 x 200/250) = 50 are
    reversed (b is replayed, `ledger._replay`). a holds 100, b 200."""
    store = store_with(tmp_path / "s.duckdb",
                       order("1001", "a", "2025-01-01", 100),
                       order("1001", "b", "2025-01-02", 250, source="pos",
                             status="partially_refunded", refunded=50, updated="2025-01-20"))
    run_until(store, "2025-02-01")
    assert ledger(store) == [
        ("earn:4:shop:1001", "earn", 100, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("earn:3:pos:1001", "earn", 250, "2025-01-02 00:00", "2026-01-02 00:00"),
        ("reverse:3:pos:1001", "reverse", -50, "2025-01-20 00:00", None),
    ]
    assert (balance(store, "a"), balance(store, "b")) == (100, 200)


def test_a_reversal_shrinks_only_the_lot_of_its_own_sources_order(tmp_path: Path) -> None:
    """One customer: online "1001" earns 100 (expires 2026-01-01); till "1001" earns 250
    (expires 2026-01-02) and loses 50 to a refund after unlock. The lots hold 100 and 200
    (balance 300). On 2025-12-01, within 45 days, all 300 expire, the first 100 on
    2026-01-01. Matching the reversal on the order id alone would take the 50 from both
    lots (50 and 200 left: 250 expiring, 50 first)."""
    store = store_with(tmp_path / "s.duckdb",
                       order("1001", "c", "2025-01-01", 100),
                       order("1001", "c", "2025-01-02", 250, source="pos",
                             status="partially_refunded", refunded=50, updated="2025-01-20"))
    run_until(store, "2025-12-01")
    assert ledger(store) == [
        ("earn:4:shop:1001", "earn", 100, "2025-01-01 00:00", "2026-01-01 00:00"),
        ("earn:3:pos:1001", "earn", 250, "2025-01-02 00:00", "2026-01-02 00:00"),
        ("reverse:3:pos:1001", "reverse", -50, "2025-01-20 00:00", None),
    ]
    assert expiring_within(store, at("2025-12-01"), 45).to_pylist() == [
        {"customer_id": "c", "points_expiring": 300,
         "next_expiry_at": datetime(2026, 1, 1), "next_expiry_points": 100}]


def test_a_persons_rows_go_to_the_record_of_their_own_sources_order(tmp_path: Path) -> None:
    """Maria's online record web-1 has order shop "1001" (600); her till record pos-77 has
    order pos "1001" (100). Replayed as one person, each earn is written under the record
    whose order it is."""
    store = store_with(tmp_path / "s.duckdb",
                       Customer(source="shop", customer_id="web-1"),
                       Customer(source="pos", customer_id="pos-77"),
                       order("1001", "web-1", "2025-03-01", 600),
                       order("1001", "pos-77", "2025-05-01", 100, source="pos", channel="store"))
    store.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p', 'cpf', ?), "
                      "('pos-77', 'p', 'cpf', ?)", [datetime(2025, 6, 1)] * 2)
    summary = run_until(store, "2025-06-01")
    assert store.con.execute("SELECT event_id, customer_id, points FROM loyalty_events "
                             "ORDER BY event_id").fetchall() == [
        ("earn:3:pos:1001", "pos-77", 100), ("earn:4:shop:1001", "web-1", 600)]
    assert (summary.members, summary.outstanding_points) == (1, 700)


RULES = LoyaltyRules()
UNTIL = "2026-03-01"
# c: online o1 earns 1000, 300.00 of it refunded after unlock (reverse 300); online o2
# redeems 500 (from o1's 700) and earns 100. o1's 200 left expire 2026-01-01, o2's 100 on
# 2026-02-01. d: till o1 earns 50, expiring 2026-01-05; a gift of 20 expires 2026-03-01,
# the (exclusive) end of the run, so it is still held. c holds 0, d 20.
EXPECTED = [
    ("earn:4:shop:o1", "earn", 1000, "2025-01-01 00:00", "2026-01-01 00:00"),
    ("reverse:4:shop:o1", "reverse", -300, "2025-01-20 00:00", None),
    ("redeem:4:shop:o2", "redeem", -500, "2025-02-01 00:00", None),
    ("earn:4:shop:o2", "earn", 100, "2025-02-01 00:00", "2026-02-01 00:00"),
    ("expire:4:shop:o1", "expire", -200, "2026-01-01 00:00", None),
    ("expire:4:shop:o2", "expire", -100, "2026-02-01 00:00", None),
    ("earn:3:pos:o1", "earn", 50, "2025-01-05 00:00", "2026-01-05 00:00"),
    ("adjust:gift", "adjust", 20, "2025-03-01 00:00", "2026-03-01 00:00"),
    ("expire:3:pos:o1", "expire", -50, "2026-01-05 00:00", None),
]


def _history(path: Path) -> Store:
    store = store_with(path,
                       order("o1", "c", "2025-01-01", 1000, status="partially_refunded",
                             refunded=300, updated="2025-01-20"),
                       order("o2", "c", "2025-02-01", 100, loyalty_points_redeemed=500),
                       order("o1", "d", "2025-01-05", 50, source="pos"))
    write_adjustments(store, RULES, "UTC", [Adjustment("d", 20, at("2025-03-01"), "gift")])
    return store


def test_a_ledger_with_old_ids_is_replayed_into_the_clean_ledger(tmp_path: Path) -> None:
    """A ledger an older version wrote (ids `earn:o1`, where d's till order "o1" lost its
    rows to c's online "o1", and a cursor whose fingerprint has no id scheme) is replayed
    whole by the next run, even one with the same `until`: it ends up exactly as a clean
    run's, with d's 50 points back and no row left under an old id."""
    clean = _history(tmp_path / "clean.duckdb")
    run_until(clean, UNTIL, RULES)
    assert ledger(clean) == EXPECTED
    assert (balance(clean, "c"), balance(clean, "d")) == (0, 20)

    store = _history(tmp_path / "old.duckdb")
    run_until(store, UNTIL, RULES)
    # what the old version left: its ids, d's colliding order's rows lost, its cursor
    with store.transaction() as con:
        con.execute("CREATE TEMP TABLE computed AS SELECT * FROM loyalty_events "
                    "WHERE source = 'loyalty' AND kind <> 'adjust' "
                    "AND NOT (customer_id = 'd' AND event_id LIKE '%:pos:o1')")
        con.execute("DELETE FROM loyalty_events WHERE source = 'loyalty' AND kind <> 'adjust'")
        con.execute(r"UPDATE computed SET event_id = regexp_replace(event_id, "
                    r"'^(\w+):[0-9]+:(shop|pos):', '\1:')")
        con.execute("INSERT INTO loyalty_events SELECT * FROM computed")
        con.execute("DROP TABLE computed")
    cursor = store.get_state("loyalty", "engine")
    store.set_state("loyalty", "engine", {**cursor, "rules": f"{RULES.fingerprint()}:UTC"})
    assert sorted(row[0] for row in ledger(store)) == [
        "adjust:gift", "earn:o1", "earn:o2", "expire:o1", "expire:o2", "redeem:o2",
        "reverse:o1"]
    assert balance(store, "d") == 20  # the old ledger lost d's 50 (earned, then expired)

    upgraded = run_until(store, UNTIL, RULES)
    assert upgraded.rebuilt
    assert ledger(store) == EXPECTED
    assert upgraded.written == {"inserted": 8, "updated": 0, "unchanged": 0, "deleted": 6}
    again = run_until(store, UNTIL, RULES)  # the cursor now holds the new scheme
    assert not again.rebuilt
    assert ledger(store) == EXPECTED
