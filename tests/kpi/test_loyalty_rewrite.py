"""The loyalty metrics after their rewrite for speed (issue #20) give exactly the answers of
the definitions they replaced (`_loyalty_reference`), on a ledger built to cross every case
the rewrite touched: earns with and without expiry, redemptions tied to valid, cancelled,
fully refunded and unknown orders, order-only redemptions and earns, expiries, adjustments,
and reversals (tied to a lot, untied, and ones whose lot was earned in an earlier period),
many of them a few minutes either side of a month's end, and order ids held by two sources."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import _loyalty_reference as reference
import pytest
from _fixtures_extra import customer, loyalty, make_store, order, same_on_every_engine

from clientela.kpi import compute
from clientela.metrics.loyalty import metrics
from clientela.store import Store
from clientela.testing.conformance import check_identical, run_everywhere
from clientela.testing.engines import (
    PostgresServer,
    duckdb_backend,
    postgres_backend,
    spark_available,
    store_tables,
)

REF = "ref_"
NEW = {m.name: m for m in metrics()}
OLD = {m.name: replace(m, name=REF + m.name) for m in reference.metrics()}
NAMES = sorted(NEW)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make_store(tmp_path_factory.mktemp("rewrite") / "r.duckdb", _records())


@pytest.fixture(scope="module")
def unreversed(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The same ledger without its reversals: points_expiring then reads the events as lots
    without looking any reversal up (a path of its own)."""
    records = [r for r in _records() if getattr(r, "kind", None) != "reverse"]
    assert len(records) == len(_records()) - 5
    return make_store(tmp_path_factory.mktemp("unreversed") / "u.duckdb", records)


def _records() -> list[Any]:
    return [
        customer("a1", acquisition_channel="instagram"),
        customer("a2", acquisition_channel="store"),
        customer("a3", acquisition_channel="store"),
        customer("a4", acquisition_channel="google"),
        customer("a5"),
        customer("a6", acquisition_channel="instagram"),
        customer("a7", acquisition_channel="google"),
        # a1: two lots; redeems from the first, which then expires; part of the second is
        # reversed in April (its lot was earned in February)
        loyalty("a1", "earn", 500, "2025-01-10", order_id="o_a1", expires="2025-03-15"),
        loyalty("a1", "earn", 300, "2025-02-20", order_id="o_a1b", expires="2025-08-01"),
        loyalty("a1", "redeem", -200, "2025-02-25 10:00", order_id="o_a1r",
                discount_value="20.00"),
        loyalty("a1", "expire", -300, "2025-03-15"),
        loyalty("a1", "reverse", -100, "2025-04-02", order_id="o_a1b"),
        # a2: a lot earned an hour before February (UTC) and reversed two hours later; a
        # lot without an order; an adjustment; a redemption tied to a cancelled order
        loyalty("a2", "earn", 1000, "2025-01-31 23:00", order_id="o_a2", expires="2025-05-01"),
        loyalty("a2", "reverse", -1000, "2025-02-01 01:00", order_id="o_a2"),
        loyalty("a2", "earn", 200, "2025-03-01", expires="2025-04-20"),
        loyalty("a2", "adjust", 50, "2025-03-05"),
        loyalty("a2", "redeem", -100, "2025-04-19", order_id="o_a2r", discount_value="10.00"),
        # a3: a lot from before the series, redeemed half an hour before February (UTC;
        # January 31 in Sao Paulo) on an order that carries the discount, no event value
        loyalty("a3", "earn", 700, "2024-12-20", order_id="o_a3", expires="2025-02-10"),
        loyalty("a3", "redeem", -700, "2025-01-31 23:30", order_id="o_a3r"),
        # a5: a never-expiring lot, a lot reversed whole just before June, a reversal of an
        # order without an earn, a redemption on an order the store does not hold
        loyalty("a5", "earn", 100, "2025-01-01"),
        loyalty("a5", "earn", 400, "2025-03-01", order_id="o_a5", expires="2025-06-10"),
        loyalty("a5", "reverse", -400, "2025-05-31 23:59", order_id="o_a5"),
        loyalty("a5", "reverse", -50, "2025-04-01", order_id="o_zz"),
        loyalty("a5", "redeem", -80, "2025-04-10", order_id="ghost", discount_value="8.00"),
        # a6: a redemption tied to a fully refunded order; a lot earned twice on one order
        loyalty("a6", "earn", 600, "2025-02-01", order_id="o_a6", expires="2025-07-01"),
        loyalty("a6", "earn", 50, "2025-02-02", order_id="o_a6", expires="2025-07-15"),
        loyalty("a6", "reverse", -325, "2025-06-30 23:00", order_id="o_a6"),
        loyalty("a6", "redeem", -300, "2025-06-15", order_id="o_a6r", discount_value="30.00"),
        # a4: a redemption tied to an order id held twice, cancelled in one source and
        # valid in another (it stands: a valid order has its id), and one tied to an id
        # held only cancelled, in both sources (it does not)
        loyalty("a4", "redeem", -60, "2025-03-10", order_id="o_dup", discount_value="6.00"),
        loyalty("a4", "redeem", -40, "2025-03-12", order_id="o_dup2", discount_value="4.00"),
        order("a4", "2025-03-10", 50, order_id="o_dup", status="cancelled"),
        order("a4", "2025-03-10", 50, order_id="o_dup", loyalty_points_redeemed=60,
              loyalty_discount="6.00").model_copy(update={"source": "pos"}),
        order("a4", "2025-03-12", 30, order_id="o_dup2", status="cancelled"),
        order("a4", "2025-03-12", 30, order_id="o_dup2",
              status="cancelled").model_copy(update={"source": "pos"}),
        order("a1", "2025-01-10", 100, order_id="o_a1"),
        order("a1", "2025-02-20", 60, order_id="o_a1b", loyalty_points_earned=30),
        order("a1", "2025-02-25 10:00", 90, order_id="o_a1r", loyalty_points_redeemed=200,
              loyalty_discount="20.00"),
        order("a1", "2025-02-25 20:00", 45, order_id="o_a1s", channel="store"),
        order("a2", "2025-01-31 23:00", 500, order_id="o_a2", status="cancelled"),
        order("a2", "2025-04-19", 30, order_id="o_a2r", status="cancelled"),
        order("a2", "2025-04-19 12:00", 25, order_id="o_a2s"),
        order("a3", "2025-01-31 23:30", 200, order_id="o_a3r", loyalty_points_redeemed=700,
              loyalty_discount="70.00"),
        order("a3", "2025-02-01 00:30", 40, order_id="o_a3s"),
        order("a4", "2025-02-14 11:00", 80, order_id="o_a4", loyalty_points_redeemed=150,
              loyalty_discount="15.00"),
        order("a4", "2025-02-14 18:00", 20, order_id="o_a4b", channel="store"),
        order("a4", "2025-03-03", 70, order_id="o_a4c", loyalty_points_earned=30),
        order("a5", "2025-03-01", 120, order_id="o_a5"),
        order("a6", "2025-02-01", 300, order_id="o_a6"),
        order("a6", "2025-06-15", 100, order_id="o_a6r", refunded_amount=100,
              loyalty_points_redeemed=300, loyalty_discount="30.00"),
        order("a6", "2025-06-15 09:00", 35, order_id="o_a6s"),
        # a7: redemptions in May on orders placed in other months, their discount on the
        # orders: one placed in April, one cancelled and one valid, both placed in June
        loyalty("a7", "earn", 500, "2025-04-01", expires="2026-04-01"),
        loyalty("a7", "redeem", -100, "2025-05-05", order_id="o_a7p"),
        loyalty("a7", "redeem", -50, "2025-05-20", order_id="o_a7c"),
        loyalty("a7", "redeem", -30, "2025-05-25", order_id="o_a7f"),
        order("a7", "2025-04-28", 60, order_id="o_a7p", loyalty_points_redeemed=100,
              loyalty_discount="10.00"),
        order("a7", "2025-06-02", 40, order_id="o_a7c", status="cancelled",
              loyalty_points_redeemed=50, loyalty_discount="5.00"),
        order("a7", "2025-06-03", 30, order_id="o_a7f", loyalty_points_redeemed=30,
              loyalty_discount="3.00"),
    ]


def _same(store: Store, names: list[str], params: dict[str, Any] | None = None,
          **kw: Any) -> list[dict[str, Any]]:
    """Both definitions of `names` in one engine call (the reference's under `ref_` names,
    reading none of the new ones' shared tables): every row of each equals its twin's."""
    catalog = {**{n: NEW[n] for n in names}, **{REF + n: OLD[n] for n in names}}
    both = {**(params or {}), **{REF + n: p for n, p in (params or {}).items()}}
    rows = compute(store, list(catalog), catalog=catalog, params=both, **kw).rows()

    def answers(prefix: str) -> list[tuple[tuple[str, str], ...]]:
        return sorted(tuple(sorted((k, str(v)) for k, v in
                                   {**row, "metric": row["metric"][len(prefix):]}.items()))
                      for row in rows if row["metric"].startswith(REF) == bool(prefix))

    new = answers("")
    answered = {row["metric"] for row in rows if not row["metric"].startswith(REF)}
    assert answered == set(names)  # each metric answered (no vacuous pass)
    assert new == answers(REF)
    return rows


@pytest.mark.parametrize(("by", "timezone"), [(None, "UTC"),
                                              ("acquisition_channel", "America/Sao_Paulo"),
                                              ("channel", "America/Sao_Paulo")])
def test_monthly_series_as_before(store: Store, by: str | None, timezone: str) -> None:
    names = [n for n in NAMES if by is None or by in NEW[n].slices]
    _same(store, names, start="2024-12", end="2025-09", grain="month", by=by,
          timezone=timezone)


def test_weekly_series_with_parameters(store: Store) -> None:
    """Weekly ends fall between the month-end edge cases; other thresholds and horizons."""
    _same(store, NAMES, start="2025-01-20", end="2025-07-10", grain="week",
          params={"loyalty_points_expiring": {"expiry_days": 10},
                  "loyalty_redeemable_members": {"redemption_threshold": 100}})
    _same(store, NAMES, start="2025-01", end="2025-08", grain="month",
          params={"loyalty_points_expiring": {"expiry_days": 90},
                  "loyalty_redeemable_members": {"redemption_threshold": 1}})


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_a_ledger_without_reversals(unreversed: Store, by: str | None) -> None:
    _same(unreversed, NAMES, start="2024-12", end="2025-09", grain="month", by=by,
          timezone="America/Sao_Paulo")
    _same(unreversed, ["loyalty_points_expiring"], start="2025-01", end="2025-08",
          grain="week", params={"loyalty_points_expiring": {"expiry_days": 45}})
    _same(unreversed, ["loyalty_points_expiring"], start="2025-03", end="2025-04", by=by)


@pytest.mark.parametrize("name", NAMES)
def test_each_metric_alone(store: Store, name: str) -> None:
    """A metric alone in a call builds its tables inline rather than sharing them."""
    _same(store, [name], start="2025-01", end="2025-08", grain="month")


def test_one_period_and_a_fixed_instant(store: Store) -> None:
    _same(store, NAMES, start="2025-02", end="2025-03")
    _same(store, NAMES, start="2025-06", end="2025-07", by="acquisition_channel",
          params={"loyalty_redeemable_members": {"redemption_threshold": 1}})
    _same(store, NAMES, start="2025-01", end="2025-07", grain="month", as_of="2025-04-20")
    _same(store, ["loyalty_discount_granted"], start="2025-02", end="2025-05",
          params={"loyalty_discount_granted": {"last_days": 20}})


def test_points_expiring_on_the_ledger_by_hand(store: Store) -> None:
    """Anchors for the comparison (both sides could be wrong alike): as of 03-01, 30 days.
    a1 holds 500 - 200 + 300 = 600; 300 expire later (08-01), so 300 of the 500 expiring
    03-15 remain. a2 holds 0. a3's lot expired (02-10) and was spent. a6 holds 650, all
    expiring after 03-31. a5 holds 100, never expiring."""
    new = compute(store, ["loyalty_points_expiring"], start="2025-02", end="2025-03",
                  catalog=NEW)
    assert new.value("loyalty_points_expiring") == 300
    assert new.value("loyalty_points_expiring", "customers") == 1
    # as of 06-01 (the May series period), 60 days: a1 holds 200 (its 300 lot less the
    # 100 reversed), expiring 08-01: beyond 07-31. a6 holds 650 (it redeems on 06-15) from
    # lots expiring 07-01 and 07-15, both in the window. a5's 400 lot was reversed whole.
    months = compute(store, ["loyalty_points_expiring"], start="2025-05", end="2025-07",
                     grain="month", catalog=NEW,
                     params={"loyalty_points_expiring": {"expiry_days": 60}})
    assert months.value("loyalty_points_expiring", period="2025-05") == 650
    # as of 07-01: a6 reversed 325 on 06-30 from o_a6's lot (expiring 07-15, the later of
    # its two earns): 25 left, in the window; a1's 200 expire 08-01, in the window too.
    assert months.value("loyalty_points_expiring", period="2025-06") == 225


def test_redemptions_of_a_month_on_orders_placed_in_others(store: Store) -> None:
    """A month alone counts its redeem events, whatever month their orders were placed in,
    and its orders that redeemed, whatever month their events are dated. May 2025: a7
    redeemed 100 points on o_a7p (placed in April, 10.00 on the order) and 30 on o_a7f
    (placed in June, 3.00); the 50 on o_a7c do not stand (the order is cancelled): 13.00,
    2 redemptions, 130 points, and no redemption visit (no order placed in May redeemed).
    April: only a5's 8.00 on an order the store does not hold (a2's is tied to a cancelled
    order), and o_a7p, placed then, is no order-only redemption (May's event is tied to
    it), but it is a visit. June: a6's 30.00 on o_a6r, which with o_a7f makes two visits;
    o_a7f is no redemption of June (May's event is tied to it)."""
    names = ["loyalty_discount_granted", "loyalty_redemption_visits"]
    may = _same(store, names, start="2025-05", end="2025-06")
    april = _same(store, names, start="2025-04", end="2025-05")
    june = _same(store, names, start="2025-06", end="2025-07")

    def value(rows: list[dict[str, Any]], metric: str, measure: str = "value") -> Any:
        return next(r["value"] for r in rows
                    if r["metric"] == metric and r["measure"] == measure)

    assert value(may, "loyalty_discount_granted") == 13
    assert value(may, "loyalty_discount_granted", "redemptions") == 2
    assert value(may, "loyalty_discount_granted", "points_redeemed") == 130
    assert value(may, "loyalty_redemption_visits") == 0
    assert value(april, "loyalty_discount_granted") == 8
    assert value(april, "loyalty_discount_granted", "redemptions") == 1
    assert value(april, "loyalty_redemption_visits") == 1
    assert value(june, "loyalty_discount_granted") == 30
    assert value(june, "loyalty_discount_granted", "redemptions") == 1
    assert value(june, "loyalty_redemption_visits") == 2


def test_redemptions_on_the_ledger_by_hand(store: Store) -> None:
    """March 2025: a4's event on o_dup stands (a valid order in another source has its id;
    the order itself redeemed through that event, so it is no second redemption), the one
    on o_dup2 does not (every order with that id is cancelled): 6.00, one redemption, 60
    points, and one redemption visit (the valid o_dup)."""
    march = compute(store, ["loyalty_discount_granted", "loyalty_redemption_visits"],
                    start="2025-03", end="2025-04", catalog=NEW)
    assert march.value("loyalty_discount_granted") == 6
    assert march.value("loyalty_discount_granted", "redemptions") == 1
    assert march.value("loyalty_discount_granted", "points_redeemed") == 60
    assert march.value("loyalty_redemption_visits") == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_identical_on_postgresql(store: Store, postgres_server: PostgresServer) -> None:
    """The rewritten definitions on this ledger (reversals, semi- and anti-joins, unions of
    nullable halves) give DuckDB's rows on PostgreSQL, sliced and not."""
    tables = store_tables(store)
    backends = [("duckdb", duckdb_backend(tables)),
                ("postgres", postgres_backend(tables, postgres_server))]
    for by in (None, "acquisition_channel", "channel"):
        names = [n for n in NAMES if by is None or by in NEW[n].slices]
        check_identical(run_everywhere(backends, names, catalog=NEW, by=by,
                                       start="2024-12", end="2025-09", grain="month",
                                       timezone="America/Sao_Paulo"))


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(store: Store) -> None:
    same_on_every_engine(store, list(NEW.values()), slices=(None, "channel"),
                         start="2024-12", end="2025-09", grain="month",
                         timezone="America/Sao_Paulo")
