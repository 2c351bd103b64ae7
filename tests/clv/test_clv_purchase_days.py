"""A CLV series' purchase days, summed in numpy from the orders, equal the engine's group-by.

`fetch_purchase_days` asks the engine for every valid order and sums a customer's
orders of one local day itself (`_sums_per_key`: one sort of packed integer keys).
Until then the engine grouped the orders by (customer, day); that query is kept here,
as it was, as the reference: the purchase days, their cents, each customer's first
day and its cents must be identical, customer for customer.

And `p_alive` asked with `clv_predicted` reads the rows `clv_predicted` made from the
same fits and probabilities: identical to `p_alive` asked alone, without a fit of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from clv_store_support import context

from clientela.clv.engine import periods
from clientela.clv.engine.series import _dictionary_encoded, _sums_per_key, fetch_purchase_days
from clientela.clv.engine.summary import _local_days, _valid_orders, order_days
from clientela.kpi import compute
from clientela.kpi.context import MetricContext
from clientela.store import Store

UNTIL = datetime(2025, 7, 1)


def _reference_purchase_days(ctx: MetricContext, until: datetime) -> dict[str, Any]:
    """The engine's group-by of the previous code, and its customer coding, unchanged: one
    row per (customer id, local day) with the day's summed revenue, sorted here by
    (customer id, day) so the rows can be compared with the new ones."""
    orders = _valid_orders(ctx, since=None, until=until)
    orders = _local_days(ctx, orders.select("customer_id", "placed_at", "revenue"),
                         since=None, until=until)
    days = orders.group_by(["customer_id", "day"]).aggregate(amount=orders.revenue.sum())
    table = days.select("customer_id", "day",
                        cents=(days.amount * 100).cast("float64")).to_pyarrow()
    encoded = pc.dictionary_encode(table["customer_id"].combine_chunks())
    ids = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(ids), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids), dtype=np.int64)
    code = rank[np.asarray(encoded.indices, dtype=np.int64)]
    day = np.asarray(table["day"].to_numpy(zero_copy_only=False), dtype=np.int64)
    cents = np.asarray(table["cents"].to_numpy(zero_copy_only=False), dtype=np.float64)
    first_day = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_day, code, day)
    first_cents = np.zeros(len(ids), dtype=np.float64)
    is_first = day == first_day[code]
    first_cents[code[is_first]] = cents[is_first]
    rows = np.lexsort((day, code))
    return {"customer_id": ids.take(pa.array(order)).to_pylist(), "code": code[rows],
            "day": day[rows], "cents": cents[rows], "first_day": first_day,
            "first_cents": first_cents}


@pytest.mark.parametrize("timezone", ["UTC", "America/Sao_Paulo"])
def test_purchase_days_equal_the_engine_group_by(clientela_golden_store: Store,
                                                 timezone: str) -> None:
    ctx = context(clientela_golden_store, UNTIL, timezone)
    found = fetch_purchase_days(ctx, until=UNTIL)
    expected = _reference_purchase_days(ctx, UNTIL)
    assert found.customer_id.to_pylist() == expected["customer_id"]
    for name in ("code", "day", "cents", "first_day", "first_cents"):
        np.testing.assert_array_equal(getattr(found, name), expected[name], err_msg=name)
    # the store has customers with two orders on one local day: the sums are exercised
    assert len(found.code) < order_days(ctx, until=UNTIL).count().execute()
    assert len(found.code) == len(expected["code"]) > 0


def test_purchase_days_of_an_empty_history(clientela_golden_store: Store) -> None:
    found = fetch_purchase_days(context(clientela_golden_store, datetime(2000, 1, 1)),
                                until=datetime(2000, 1, 1))
    assert len(found) == 0 and len(found.code) == 0 and len(found.cents) == 0


@pytest.mark.parametrize("high", [50, 2**60], ids=["packed sort", "argsort"])
def test_sums_per_key_against_unique_and_bincount(high: int) -> None:
    rng = np.random.default_rng(7)
    key = rng.integers(0, high, 2000, dtype=np.int64)
    key[1000:1100] = key[:100]  # duplicates either way
    values = rng.integers(-500, 5000, 2000).astype(np.float64)
    unique, inverse = np.unique(key, return_inverse=True)
    found_keys, found_sums = _sums_per_key(key.copy(), values)
    np.testing.assert_array_equal(found_keys, unique)
    np.testing.assert_array_equal(found_sums, np.bincount(inverse, weights=values))


def test_sums_per_key_by_hand() -> None:
    keys, sums = _sums_per_key(np.array([5, 3, 5, 0, 3, 5], dtype=np.int64),
                               np.array([1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]))
    assert keys.tolist() == [0, 3, 5]
    assert sums.tolist() == [1000.0, 10010.0, 100101.0]


SERIES: dict[str, Any] = dict(start="2024-10", end="2025-04", grain="month",
                              timezone="America/Sao_Paulo")


def _rows(result: Any, metric: str) -> list[dict[str, Any]]:
    return sorted((row for row in result.rows() if row["metric"] == metric),
                  key=lambda row: tuple(str(v) for v in row.values()))


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_p_alive_reads_what_clv_predicted_made(clientela_golden_store: Store,
                                               monkeypatch: pytest.MonkeyPatch,
                                               by: str | None) -> None:
    alone = compute(clientela_golden_store, ["p_alive"], by=by, **SERIES)
    fits: list[str] = []
    real_fitted = periods.fitted

    def counted(ctx: MetricContext, kinds: Any, unit: str, **kw: Any) -> Any:
        fits.append(ctx.metric)
        return real_fitted(ctx, kinds, unit, **kw)

    monkeypatch.setattr(periods, "fitted", counted)  # the metric imports it when it runs
    both = compute(clientela_golden_store, ["clv_predicted", "p_alive"], by=by, **SERIES)
    assert fits == ["clv_predicted"]  # p_alive made no summaries and no fits of its own
    assert _rows(both, "p_alive") == _rows(alone, "p_alive")
    assert len(_rows(alone, "p_alive")) >= 6


def _count_fetches(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Each purchase-day fetch's `until`, in order, while the patch holds."""
    fetched: list[datetime] = []
    real_fetch = periods.fetch_purchase_days

    def counted(ctx: MetricContext, *, until: datetime) -> Any:
        fetched.append(until)
        return real_fetch(ctx, until=until)

    monkeypatch.setattr(periods, "fetch_purchase_days", counted)
    return fetched


def test_p_alive_with_other_parameters_fits_its_own(clientela_golden_store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    weekly = {"p_alive": {"unit": "weeks"}}
    alone = compute(clientela_golden_store, ["p_alive"], params=weekly, **SERIES)
    fetched = _count_fetches(monkeypatch)
    both = compute(clientela_golden_store, ["clv_predicted", "p_alive"], params=weekly,
                   **SERIES)
    assert _rows(both, "p_alive") == _rows(alone, "p_alive")
    # the purchase days were dropped after clv_predicted's series, so p_alive's own
    # weekly series fetched them again
    assert len(fetched) == 2


def test_p_alive_first_leaves_the_purchase_days_to_clv_predicted(
        clientela_golden_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched = _count_fetches(monkeypatch)
    both = compute(clientela_golden_store, ["p_alive", "clv_predicted"], **SERIES)
    assert len(fetched) == 1
    monkeypatch.undo()
    alone = compute(clientela_golden_store, ["clv_predicted"], **SERIES)
    assert _rows(both, "clv_predicted") == _rows(alone, "clv_predicted")


def test_dictionary_encoded_chunk_by_chunk() -> None:
    """Later chunks bring new ids and repeat earlier ones: every index points at its own
    id in the one dictionary returned, as a one-chunk encoding's would."""
    column = pa.chunked_array([["c2", "c1", "c2"], [], ["c3", "c1"], ["c4", "c3", "c2"]])
    ids, indices = _dictionary_encoded(column)
    assert ids.to_pylist() == ["c2", "c1", "c3", "c4"]
    assert indices.tolist() == [0, 1, 0, 2, 1, 3, 2, 0]
    assert [ids[i].as_py() for i in indices] == column.to_pylist()
    empty_ids, empty = _dictionary_encoded(pa.chunked_array([], type=pa.string()))
    assert len(empty_ids) == 0 and empty.tolist() == []
