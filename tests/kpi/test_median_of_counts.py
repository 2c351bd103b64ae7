"""recency_days takes its median from customers per whole day of recency rather than from
a ranking of every customer: the two must give the same number for any data."""

from __future__ import annotations

import ibis
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from clientela.kpi.sql import median_of
from clientela.metrics.retention import _median_of_counts

rows = st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 40)),
                min_size=1, max_size=60)


def _medians(table: ibis.Table, keys: list[str]) -> tuple[dict, dict]:
    counts = table.group_by([*keys, "days"]).aggregate(n=table.count())
    expected = median_of(table, "days", keys).execute()
    found = _median_of_counts(counts, "days", "n", keys).execute()
    def as_dict(frame):  # type: ignore[no-untyped-def]
        return {tuple(r[k] for k in keys): r["median"] for r in frame.to_dict("records")}
    return as_dict(expected), as_dict(found)


@settings(max_examples=40, deadline=None)
@given(rows)
def test_the_median_of_counts_is_the_median_of_the_rows(data: list) -> None:
    con = ibis.duckdb.connect()
    table = con.create_table("t", pa.table({"k": pa.array([k for k, _ in data], pa.string()),
                                            "days": [d for _, d in data]}))
    for keys in ([], ["k"]):
        expected, found = _medians(table, keys)
        assert found == expected


def test_even_and_odd_counts_by_hand() -> None:
    con = ibis.duckdb.connect()
    # days 1, 1, 4, 9: the middle two are 1 and 4 -> 2.5; with one more 9 -> 4
    even = con.create_table("even", pa.table({"days": [1, 4, 9], "n": [2, 1, 1]}))
    odd = con.create_table("odd", pa.table({"days": [1, 4, 9], "n": [2, 1, 2]}))
    assert _median_of_counts(even, "days", "n", []).execute()["median"][0] == 2.5
    assert _median_of_counts(odd, "days", "n", []).execute()["median"][0] == 4.0


gaps = st.lists(st.tuples(st.sampled_from(["a", "b", None]),
                          st.one_of(st.none(), st.integers(0, 200), st.integers(0, 10**7))),
                min_size=0, max_size=60)


@settings(max_examples=40, deadline=None)
@given(gaps, st.sampled_from([1, 7, 86400]))
def test_the_median_ranked_in_buckets_is_the_median_of_the_rows(data: list, bucket: int
                                                                ) -> None:
    """interpurchase_days ranks only the day buckets holding the middle gaps: the same
    median as a ranking of every gap, per group (null keys a group too), for any width."""
    con = ibis.duckdb.connect()
    table = con.create_table("t", pa.table({
        "k": pa.array([k for k, _ in data], pa.string()),
        "seconds": pa.array([s for _, s in data], pa.int64())}))
    def medians(keys: list[str], **kw: int) -> dict[tuple[str | None, ...], float | None]:
        found = median_of(table, "seconds", keys, **kw).to_pyarrow().to_pylist()
        return {tuple(r[k] for k in keys): r["median"] for r in found}

    for keys in ([], ["k"]):
        assert medians(keys, bucket=bucket) == medians(keys)


def test_the_median_in_buckets_by_hand() -> None:
    con = ibis.duckdb.connect()
    # seconds 5, 86400, 90000, 200000 (days 0, 1, 1, 2): the middle two are 86400 and 90000,
    # both in day 1 -> 88200; with 10 more (day 0): 5, 10 | 86400 ... -> 86400
    four = con.create_table("four", pa.table({"seconds": [90000, 5, 200000, 86400]}))
    five = con.create_table("five", pa.table({"seconds": [90000, 5, 200000, 86400, 10]}))
    assert median_of(four, "seconds", [], bucket=86400).execute()["median"][0] == 88200.0
    assert median_of(five, "seconds", [], bucket=86400).execute()["median"][0] == 86400.0
