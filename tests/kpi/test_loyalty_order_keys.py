"""A loyalty event names its order by the order's key, (source, order_id): the event's
`order_source`, or else the event's own source, with its `order_id`. Two sources may both
hold an order "1001" (a web shop's and a till's); an event tied to one must not tie itself
to the other.

Each expected number is worked out by hand in the test's docstring, with the number the
join on `order_id` alone gave, so each test fails on that join."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from _fixtures_extra import customer, loyalty, make_store, order, run, value
from _kpi_fixtures import SOURCE

from clientela.metrics.loyalty import metrics
from clientela.model import Order
from clientela.store import Store
from clientela.testing.conformance import check_identical, run_everywhere
from clientela.testing.engines import (
    PostgresServer,
    duckdb_backend,
    postgres_backend,
    spark_available,
    store_tables,
)

METRICS = metrics()
CATALOG = {m.name: m for m in METRICS}
MARCH = ("2025-03-01", "2025-04-01")
POS = "pos"
LEDGER = "loyalty"
"""A ledger kept apart from the orders (the loyalty engine's source)."""


def pos_order(*args: Any, **kw: Any) -> Order:
    """An order of the second source (the fixtures' orders are all of SOURCE)."""
    return order(*args, **kw).model_copy(update={"source": POS})


@pytest.fixture
def two_sources(tmp_path: Path) -> Store:
    """Orders (all March 2025, UTC), SOURCE's and POS's sharing ids:

      SOURCE 1001  a  03-10 12:00  100.00  paid
      POS    1001  b  03-10 15:00   50.00  paid
      SOURCE 1002  a  03-12 10:00   60.00  cancelled
      POS    1002  b  03-12 11:00   70.00  paid, redeemed 100 points for 10.00 on the order

    Events, all of SOURCE (so each names a SOURCE order):
      a  earn   1000  02-01
      a  redeem -300  03-10 12:00  on 1001, 30.00
      a  earn     10  03-10 12:00  on 1001
      a  redeem -200  03-12 10:00  on 1002, 20.00  (its order is cancelled)
      b  earn    500  02-01
    """
    records = [
        customer("a"), customer("b"),
        order("a", "2025-03-10 12:00", 100, order_id="1001"),
        pos_order("b", "2025-03-10 15:00", 50, order_id="1001", channel="store"),
        order("a", "2025-03-12 10:00", 60, order_id="1002", status="cancelled"),
        pos_order("b", "2025-03-12 11:00", 70, order_id="1002", channel="store",
                  loyalty_points_redeemed=100, loyalty_discount="10.00"),
        loyalty("a", "earn", 1000, "2025-02-01"),
        loyalty("a", "redeem", -300, "2025-03-10 12:00", order_id="1001",
                discount_value="30.00"),
        loyalty("a", "earn", 10, "2025-03-10 12:00", order_id="1001"),
        loyalty("a", "redeem", -200, "2025-03-12 10:00", order_id="1002",
                discount_value="20.00"),
        loyalty("b", "earn", 500, "2025-02-01"),
    ]
    return make_store(tmp_path / "two.duckdb", records)


def test_discount_granted_keeps_the_sources_apart(two_sources: Store) -> None:
    """a's redemption on SOURCE 1001 (30.00, 300 points) stands; a's on SOURCE 1002 does
    not (that order is cancelled); POS 1002 redeemed on its own fields and no event names
    it, so it is an order-only redemption (10.00, 100 points): 40.00 in 2 redemptions, 400
    points. By order_id alone a's 1002 event stood (POS 1002 is valid) and POS 1002
    counted as tied to it: 30 + 20 = 50.00, 500 points."""
    r = run(two_sources, METRICS, ["loyalty_discount_granted"], *MARCH)
    assert value(r, "loyalty_discount_granted") == 40
    assert value(r, "loyalty_discount_granted", "redemptions") == 2
    assert value(r, "loyalty_discount_granted", "points_redeemed") == 400


def test_redemption_visits_keep_the_sources_apart(two_sources: Store) -> None:
    """SOURCE 1001 (a's event) and POS 1002 (its own fields): 2 visits of 2 customers, one
    online and one in store. By order_id alone POS 1001 was tied to a's event too: 3."""
    r = run(two_sources, METRICS, ["loyalty_redemption_visits"], *MARCH)
    assert value(r, "loyalty_redemption_visits") == 2
    assert value(r, "loyalty_redemption_visits", "customers") == 2
    by = run(two_sources, METRICS, ["loyalty_redemption_visits"], *MARCH, by="channel")
    assert value(by, "loyalty_redemption_visits", slice="online") == 1
    assert value(by, "loyalty_redemption_visits", slice="store") == 1


def test_redemption_day_spend_keeps_the_sources_apart(two_sources: Store) -> None:
    """a redeemed on 03-10 (SOURCE 1001: 100.00 that day), b on 03-12 (POS 1002: 70.00):
    170.00 in 2 orders of 2 customers. By order_id alone b's order-only redemption was
    hidden behind a's event, and a's days were 03-10 and 03-12 (a cancelled order only):
    100.00, 1 order, 1 customer."""
    r = run(two_sources, METRICS, ["loyalty_redemption_day_spend"], *MARCH)
    assert value(r, "loyalty_redemption_day_spend") == 170
    assert value(r, "loyalty_redemption_day_spend", "orders") == 2
    assert value(r, "loyalty_redemption_day_spend", "customers") == 2


def test_scored_share_keeps_the_sources_apart(two_sources: Store) -> None:
    """Valid March orders: SOURCE 1001, POS 1001, POS 1002. Only SOURCE 1001 has an earn
    event: 1 of 3. By order_id alone POS 1001 was scored too: 2 of 3."""
    r = run(two_sources, METRICS, ["loyalty_scored_share"], *MARCH)
    assert value(r, "loyalty_scored_share", "scored_orders") == 1
    assert value(r, "loyalty_scored_share", "orders") == 3
    assert value(r, "loyalty_scored_share") == 1 / 3


def test_a_ledger_kept_apart_names_the_orders_source(tmp_path: Path) -> None:
    """A ledger of its own source (as the loyalty engine writes it) sets `order_source`.

    SOURCE 1001 (a, 100.00) and POS 1001 (b, 50.00, 100 points for 10.00 on the order);
    the ledger's b redeems 100 points on 1001 of POS, with no value of its own, so it
    takes the order's 10.00: one redemption, one visit (POS 1001), 10.00, 100 points.
    By order_id alone SOURCE 1001 was a redemption visit too (2 visits)."""
    records = [
        customer("a"), customer("b"),
        order("a", "2025-03-10 12:00", 100, order_id="1001"),
        pos_order("b", "2025-03-10 15:00", 50, order_id="1001", channel="store",
                  loyalty_points_redeemed=100, loyalty_discount="10.00"),
        loyalty("b", "earn", 500, "2025-02-01").model_copy(update={"source": LEDGER}),
        loyalty("b", "redeem", -100, "2025-03-10 15:00", order_id="1001",
                order_source=POS).model_copy(update={"source": LEDGER}),
    ]
    store = make_store(tmp_path / "apart.duckdb", records)
    r = run(store, METRICS, ["loyalty_discount_granted", "loyalty_redemption_visits"], *MARCH)
    assert value(r, "loyalty_discount_granted") == 10
    assert value(r, "loyalty_discount_granted", "redemptions") == 1
    assert value(r, "loyalty_discount_granted", "points_redeemed") == 100
    assert value(r, "loyalty_redemption_visits") == 1
    assert value(r, "loyalty_redemption_visits", "customers") == 1


def test_a_reversal_takes_its_points_from_its_own_orders_lot(tmp_path: Path) -> None:
    """The ledger's c earns 400 on SOURCE 1001 (expires 04-15) and 1000 on POS 1001
    (expires 12-01); SOURCE 1001 is refunded: -300 on 03-20. At 04-01 c holds 1100; the
    reversal counts with SOURCE 1001's lot, which keeps 100 expiring within 30 days, the
    other 1000 expire later: 1100 - 1000 = 100 expire. With both lots on one key (order_id
    alone) the reversal took the later expiry: 1100 - 700 = 400 of 400 expiring."""
    def ledger(*args: Any, **kw: Any) -> Any:
        return loyalty(*args, **kw).model_copy(update={"source": LEDGER})

    records = [
        customer("c"),
        ledger("c", "earn", 400, "2025-02-01", order_id="1001", order_source=SOURCE,
               expires="2025-04-15"),
        ledger("c", "earn", 1000, "2025-03-01", order_id="1001", order_source=POS,
               expires="2025-12-01"),
        ledger("c", "reverse", -300, "2025-03-20", order_id="1001", order_source=SOURCE),
    ]
    store = make_store(tmp_path / "lots.duckdb", records)
    r = run(store, METRICS, ["loyalty_points_expiring"], *MARCH)
    assert value(r, "loyalty_points_expiring") == 100
    assert value(r, "loyalty_points_expiring", "customers") == 1
    months = run(store, METRICS, ["loyalty_points_expiring"], "2025-02-01", "2025-04-01",
                 grain="month")
    assert value(months, "loyalty_points_expiring", period="2025-03") == 100


def test_a_store_without_the_column_names_orders_of_the_events_source(
        two_sources: Store) -> None:
    """A store written before `order_source` existed, opened read-only (so not migrated),
    answers as one whose events all leave it empty."""
    path = two_sources.path
    two_sources.close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE loyalty_events DROP COLUMN order_source")
    con.close()
    with Store(path, read_only=True) as old:
        assert "order_source" not in old.con.table("loyalty_events").columns
        r = run(old, METRICS, ["loyalty_discount_granted"], *MARCH)
    assert value(r, "loyalty_discount_granted") == 40


def _backends_agree(store: Store, backends: list[Any]) -> None:
    for by in (None, "channel"):
        names = [n for n in CATALOG if by is None or by in CATALOG[n].slices]
        check_identical(run_everywhere(backends, names, catalog=CATALOG, by=by,
                                       start="2025-02", end="2025-05", grain="month",
                                       timezone="America/Sao_Paulo"))


@pytest.mark.postgres
def test_identical_on_postgresql(two_sources: Store, postgres_server: PostgresServer) -> None:
    tables = store_tables(two_sources)
    _backends_agree(two_sources, [("duckdb", duckdb_backend(tables)),
                                  ("postgres", postgres_backend(tables, postgres_server))])


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(two_sources: Store) -> None:
    from clientela.testing.engines import engines

    _backends_agree(two_sources, list(engines(store_tables(two_sources), spark=True)))
