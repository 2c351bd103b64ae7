"""The engine's customer summary is the published one, computed in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from _clv_reference import summary_from_orders
from clv_store_support import CDNOW_CALIBRATION_END, CDNOW_HOLDOUT_END, context

from clientela.clv.engine.summary import fetch_summary
from clientela.kpi.localtime import offset_intervals
from clientela.model import Order
from clientela.store import Store


def test_ibis_summary_equals_the_numpy_reference_on_cdnow(
    cdnow_store: Store, cdnow_orders: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    customer, days, amount = cdnow_orders
    ids, reference = summary_from_orders(customer, days, amount,
                                         float(date(1997, 9, 30).toordinal()), unit=7.0)
    found = fetch_summary(context(cdnow_store, CDNOW_CALIBRATION_END),
                          calibration_end=CDNOW_CALIBRATION_END, unit="weeks")
    assert len(found) == 2357
    np.testing.assert_array_equal(np.asarray(found.customer_id.to_pylist(), dtype=np.int64), ids)
    np.testing.assert_array_equal(found.summary.frequency, reference.frequency)
    np.testing.assert_array_equal(found.summary.recency, reference.recency)
    np.testing.assert_array_equal(found.summary.age, reference.age)
    # The store sums DECIMAL cents exactly; the reference sums floats, whose last bit may
    # differ (the largest gap on CDNOW is 3e-14).
    assert found.summary.monetary is not None and reference.monetary is not None
    np.testing.assert_allclose(found.summary.monetary, reference.monetary, rtol=1e-13, atol=0)
    assert found.summary.frequency.sum() == 2457.0
    assert (found.summary.frequency > 0).sum() == 946


def test_summary_in_days_is_the_weekly_one_times_seven(cdnow_store: Store) -> None:
    ctx = context(cdnow_store, CDNOW_CALIBRATION_END)
    weeks = fetch_summary(ctx, calibration_end=CDNOW_CALIBRATION_END, unit="weeks").summary
    days = fetch_summary(ctx, calibration_end=CDNOW_CALIBRATION_END, unit="days").summary
    np.testing.assert_array_equal(days.frequency, weeks.frequency)
    np.testing.assert_allclose(days.age, weeks.age * 7, rtol=1e-15)
    np.testing.assert_array_equal(days.age, np.round(days.age))
    assert days.age.max() == 272.0  # 1 January to 30 September 1997


def test_holdout_purchases_count_distinct_days_after_calibration(
    cdnow_store: Store, cdnow_orders: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    customer, days, _ = cdnow_orders
    end, stop = date(1997, 9, 30).toordinal(), date(1998, 6, 30).toordinal()
    later = (days > end) & (days <= stop)
    pairs = np.unique(np.stack([customer[later], days[later]]), axis=1)
    expected = np.bincount(np.searchsorted(np.unique(customer), pairs[0]), minlength=2357)
    found = fetch_summary(context(cdnow_store, CDNOW_CALIBRATION_END),
                          calibration_end=CDNOW_CALIBRATION_END, unit="weeks",
                          holdout_end=CDNOW_HOLDOUT_END)
    assert found.holdout_purchases is not None
    np.testing.assert_array_equal(found.holdout_purchases, expected)
    assert found.holdout_purchases.sum() == 1882.0


def _order(order_id: str, customer: str | None, when: datetime, total: str,
           **kw: object) -> Order:
    amount = Decimal(total)
    kw.setdefault("status", "fulfilled")
    return Order(source="t", order_id=order_id, customer_id=customer, placed_at=when,
                 total=amount, subtotal=amount, channel="online", **kw)  # type: ignore[arg-type]


NY = ZoneInfo("America/New_York")


def test_conventions_local_days_and_same_day_purchases(tmp_path: Path) -> None:
    """Valid orders only, revenue net of refunds in the reporting currency, days cut in
    the workspace zone across a daylight-saving change, same-day orders merged."""
    orders = [
        # a: first purchase 1 March; 10 March 23:30 and 11 March 00:10 New York time are
        # two local days (though the same UTC day); two orders on 20 March are one purchase.
        _order("a1", "a", datetime(2024, 3, 1, 12, tzinfo=NY), "10.00"),
        _order("a2", "a", datetime(2024, 3, 10, 23, 30, tzinfo=NY), "20.00"),
        _order("a3", "a", datetime(2024, 3, 11, 0, 10, tzinfo=NY), "30.00"),
        _order("a4", "a", datetime(2024, 3, 20, 9, tzinfo=NY), "40.00"),
        _order("a5", "a", datetime(2024, 3, 20, 21, tzinfo=NY), "50.00",
               status="partially_refunded", refunded_amount=Decimal("10.00")),
        _order("a6", "a", datetime(2024, 3, 25, 9, tzinfo=NY), "99.00", status="cancelled"),
        # b: one purchase, then a fully refunded one and a foreign-currency one
        _order("b1", "b", datetime(2024, 3, 5, 9, tzinfo=NY), "5.00"),
        _order("b2", "b", datetime(2024, 3, 6, 9, tzinfo=NY), "7.00", status="refunded",
               refunded_amount=Decimal("7.00")),
        _order("b3", "b", datetime(2024, 3, 8, 9, tzinfo=NY), "2.00", currency="USD",
               fx_rate=Decimal("5")),
        # after the calibration end (exclusive 1 April local midnight): holdout only
        _order("a7", "a", datetime(2024, 4, 1, 0, 5, tzinfo=NY), "1.00"),
        _order("g1", None, datetime(2024, 3, 9, 9, tzinfo=NY), "3.00"),  # a guest
    ]
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders)
        end = datetime(2024, 4, 1, 4)  # local midnight of 1 April (EDT, UTC-4), naive UTC
        found = fetch_summary(context(store, end, "America/New_York"), calibration_end=end,
                              unit="days", holdout_end=datetime(2024, 5, 1, 4))
    assert found.customer_id.to_pylist() == ["a", "b"]
    s = found.summary
    # a: days 1, 10, 11, 20 March -> x = 3, t_x = 19, T = 31 March - 1 March = 30
    # b: days 5, 8 March -> x = 1, t_x = 3, T = 26
    np.testing.assert_array_equal(s.frequency, [3.0, 1.0])
    np.testing.assert_array_equal(s.recency, [19.0, 3.0])
    np.testing.assert_array_equal(s.age, [30.0, 26.0])
    assert s.monetary is not None
    # a: repeat purchases 20, 30 and 40 + (50 - 10) -> 130 / 3; b: 2 USD at 5 = 10 BRL
    np.testing.assert_array_equal(s.monetary, [130.0 / 3, 10.0])
    assert found.holdout_purchases is not None
    np.testing.assert_array_equal(found.holdout_purchases, [1.0, 0.0])


def test_offset_intervals_follow_daylight_saving_to_the_second() -> None:
    intervals = offset_intervals("America/New_York", datetime(2024, 1, 1), datetime(2024, 12, 1))
    assert [(lo, offset) for lo, _, offset in intervals] == [
        (datetime(2024, 1, 1), -5 * 3600),
        (datetime(2024, 3, 10, 7), -4 * 3600),  # 2:00 EST
        (datetime(2024, 11, 3, 6), -5 * 3600),  # 2:00 EDT
    ]
    assert len(offset_intervals("UTC", datetime(2000, 1, 1), datetime(2030, 1, 1))) == 1


def test_unknown_unit_is_refused(cdnow_store: Store) -> None:
    with pytest.raises(ValueError, match="unit must be one of days, weeks"):
        fetch_summary(context(cdnow_store, CDNOW_CALIBRATION_END),
                      calibration_end=CDNOW_CALIBRATION_END, unit="months")  # type: ignore[arg-type]


def _reference(orders: list[tuple[str, datetime, int]], timezone: str, calibration_end: datetime,
               holdout_end: datetime) -> dict[str, tuple[int, float, float, float, int]]:
    """Per customer (x, t_x, T, m, holdout purchases) in days, by plain Python and zoneinfo."""
    tz = ZoneInfo(timezone)

    def local_day(instant: datetime) -> int:
        local = instant.replace(microsecond=0, tzinfo=UTC).astimezone(tz)
        return (local.date() - date(1970, 1, 1)).days

    end_day = local_day(calibration_end - timedelta(microseconds=1))
    before: dict[str, dict[int, int]] = {}
    after: dict[str, set[int]] = {}
    for customer, instant, cents in orders:
        if instant < calibration_end:
            days = before.setdefault(customer, {})
            days[local_day(instant)] = days.get(local_day(instant), 0) + cents
        elif instant < holdout_end:
            after.setdefault(customer, set()).add(local_day(instant))
    found = {}
    for customer, days in before.items():
        ordered = sorted(days)
        x = len(ordered) - 1
        repeat = sum(days[d] for d in ordered[1:])
        found[customer] = (x, float(ordered[-1] - ordered[0]), float(end_day - ordered[0]),
                           repeat / 100 / x if x else 0.0, len(after.get(customer, ())))
    return found


@pytest.mark.parametrize(("timezone", "calibration_end"), [
    ("Europe/Berlin", datetime(2023, 3, 26, 13, 17, 30)),  # mid-day: one day on each side
    ("Europe/Berlin", datetime(2023, 6, 30, 22)),  # local midnight (CEST, UTC+2)
    ("UTC", datetime(2023, 6, 30, 22)),
])
def test_summary_matches_python_across_several_dst_changes(
        tmp_path: Path, timezone: str, calibration_end: datetime) -> None:
    """Two years of orders around every daylight-saving change, some on both sides of a
    calibration end that is not a local midnight: the engine's one-scan summary (offsets as
    a CASE over the transitions, holdout under a filter) equals a per-order zoneinfo loop."""
    rng = np.random.default_rng(5)
    changes = [datetime(2022, 3, 27, 1), datetime(2022, 10, 30, 1), datetime(2023, 3, 26, 1),
               datetime(2023, 10, 29, 1), calibration_end]
    orders: list[tuple[str, datetime, int]] = []
    for i in range(400):
        customer = f"c{i % 60:02d}"
        if i % 3 == 0:  # within two hours of a change, to the second
            base = changes[int(rng.integers(len(changes)))]
            instant = base + timedelta(seconds=int(rng.integers(-7200, 7200)),
                                       microseconds=int(rng.integers(0, 1_000_000)))
        else:
            instant = datetime(2022, 1, 1) + timedelta(seconds=int(rng.integers(0, 2 * 365
                                                                                * 86400)))
        orders.append((customer, instant, int(rng.integers(100, 20_000))))
    holdout_end = datetime(2023, 12, 31)
    records = [_order(f"o{n}", customer, instant.replace(tzinfo=UTC), f"{cents / 100:.2f}")
               for n, (customer, instant, cents) in enumerate(orders)]
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(records)
        found = fetch_summary(context(store, calibration_end, timezone),
                              calibration_end=calibration_end, unit="days",
                              holdout_end=holdout_end)
    expected = _reference(orders, timezone, calibration_end, holdout_end)
    assert found.customer_id.to_pylist() == sorted(expected)
    rows = [expected[c] for c in sorted(expected)]
    s = found.summary
    np.testing.assert_array_equal(s.frequency, [r[0] for r in rows])
    np.testing.assert_array_equal(s.recency, [r[1] for r in rows])
    np.testing.assert_array_equal(s.age, [r[2] for r in rows])
    assert s.monetary is not None
    np.testing.assert_array_equal(s.monetary, [r[3] for r in rows])
    assert found.holdout_purchases is not None
    np.testing.assert_array_equal(found.holdout_purchases, [r[4] for r in rows])
