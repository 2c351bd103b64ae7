"""docs/metrics.md "Sales", each number counted by hand on the basic fixture (see _kpi_fixtures).

Valid orders in January 2025 (UTC): o1 (a, 100), o7 (guest, 10); o3 is cancelled.
February: o2 (a, 50 - 20 refunded = 30, discount 10 + loyalty 5), o4 (b, 80 USD x 5 = 400).
o6 (c, 60) is 28 Feb 23:30 in São Paulo = 1 March 02:30 UTC.
"""

from __future__ import annotations

import pytest

from clientela.kpi import KpiError, compute
from clientela.store import Store

JAN, FEB, MAR = ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01"), ("2025-03-01",
                                                                               "2025-04-01")


def one(store: Store, metrics: dict, name: str, period: tuple[str, str], measure: str = "value",
        tz: str = "UTC", **kw: object) -> float | None:
    result = compute(store, [name], start=period[0], end=period[1], timezone=tz,
                     catalog=metrics, **kw)
    return result.value(name, measure)


@pytest.mark.parametrize(("name", "period", "expected"), [
    ("orders", JAN, 2),             # o1, o7; o3 cancelled
    ("orders", FEB, 2),             # o2 partially refunded counts, o4
    ("revenue", JAN, 110),
    ("revenue", FEB, 430),          # 50 - 20 + 80 * 5
    ("gross_sales", FEB, 60 + 400),  # subtotal 60 for o2, 80 * 5 for o4
    ("discount_total", FEB, 15),
    ("active_customers", JAN, 1),   # a; the guest is nobody
    ("active_customers", FEB, 2),   # a, b
    ("new_customers", JAN, 1),      # a; c's first order is December 2024
    ("new_customers", FEB, 1),      # b: its cancelled January order does not count
    ("aov", JAN, 55),
    ("aov", FEB, 215),
    ("purchase_frequency", FEB, 1),
])
def test_sales_by_hand(basic_store: Store, metrics: dict, name: str, period: tuple[str, str],
                       expected: float) -> None:
    assert one(basic_store, metrics, name, period) == pytest.approx(expected)


def test_discount_parts(basic_store: Store, metrics: dict) -> None:
    assert one(basic_store, metrics, "discount_total", FEB, "order_discounts") == 10
    assert one(basic_store, metrics, "discount_total", FEB, "loyalty_discounts") == 5


def test_empty_period_gives_null_ratios_and_zero_counts(basic_store: Store, metrics: dict
                                                        ) -> None:
    empty = ("2023-01-01", "2023-02-01")
    assert one(basic_store, metrics, "orders", empty) == 0
    assert one(basic_store, metrics, "revenue", empty) == 0
    assert one(basic_store, metrics, "aov", empty) is None
    assert one(basic_store, metrics, "purchase_frequency", empty) is None


def test_time_zone_moves_an_order_across_a_month(basic_store: Store, metrics: dict) -> None:
    assert one(basic_store, metrics, "revenue", FEB) == 430
    assert one(basic_store, metrics, "revenue", MAR) == 60
    assert one(basic_store, metrics, "revenue", FEB, tz="America/Sao_Paulo") == 490
    assert one(basic_store, metrics, "revenue", MAR, tz="America/Sao_Paulo") == 0


def test_channel_mix(basic_store: Store, metrics: dict) -> None:
    result = compute(basic_store, ["channel_mix"], start="2025-02-01", end="2025-03-01",
                     catalog=metrics)
    assert result.value("channel_mix", "revenue", item="online") == 400
    assert result.value("channel_mix", "revenue", item="store") == 30
    assert result.value("channel_mix", item="online") == pytest.approx(400 / 430)
    assert result.value("channel_mix", "orders_share", item="store") == pytest.approx(0.5)


def test_items_per_order(tmp_path, metrics: dict) -> None:
    from _kpi_fixtures import build_store, order

    from clientela.model import OrderLine

    orders = [order("x1", "a", "2025-01-02", 10), order("x2", "a", "2025-01-03", 10),
              order("x3", "a", "2025-01-04", 10, status="cancelled")]
    lines = [OrderLine(source="test", order_id=o, line_id=str(i), quantity=q,
                       unit_price=1, total=q)
             for o, i, q in [("x1", 1, 2), ("x1", 2, 3), ("x3", 1, 9)]]
    with build_store(tmp_path / "s.duckdb", orders, lines) as store:
        # 5 units over 2 valid orders (x2 has no lines; x3 is cancelled)
        assert one(store, metrics, "items_per_order", JAN) == 2.5


def test_omnichannel_share(basic_store: Store, metrics: dict) -> None:
    # trailing 12 months to 1 March: a bought online and in store (2 channels), b online,
    # c store; o6 is in March
    assert one(basic_store, metrics, "omnichannel_share", FEB) == pytest.approx(1 / 3)
    assert one(basic_store, metrics, "omnichannel_share", FEB, "omnichannel_customers") == 1


@pytest.mark.parametrize("given", [{"window_months": 0}, {"min_channels": 0}])
def test_omnichannel_parameters_are_checked(basic_store: Store, metrics: dict,
                                            given: dict[str, int]) -> None:
    name = next(iter(given))
    with pytest.raises(KpiError, match=f"omnichannel_share.*{name}"):
        compute(basic_store, ["omnichannel_share"], start="2025-02-01", end="2025-03-01",
                catalog=metrics, params={"omnichannel_share": given})


def test_slices(basic_store: Store, metrics: dict) -> None:
    result = compute(basic_store, ["revenue", "orders"], start="2025-01-01", end="2025-03-01",
                     by="channel", catalog=metrics)
    assert result.value("revenue", slice="online") == 510
    assert result.value("revenue", slice="store") == 30
    by_acq = compute(basic_store, ["revenue"], start="2025-01-01", end="2025-03-01",
                     by="acquisition_channel", catalog=metrics)
    assert by_acq.value("revenue", slice="online") == 130  # a: 100 + 30
    assert by_acq.value("revenue", slice="store") == 400   # b
    rows = [r for r in by_acq.rows() if r["acquisition_channel"] is None]
    assert [r["value"] for r in rows] == [10]               # the guest's order
    by_store = compute(basic_store, ["orders"], start="2024-12-01", end="2025-03-01",
                       by="store_id", catalog=metrics)
    assert by_store.value("orders", slice="s1") == 2
    assert by_store.value("orders", slice="s2") == 1
