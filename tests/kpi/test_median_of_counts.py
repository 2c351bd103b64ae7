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
