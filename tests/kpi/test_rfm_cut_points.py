"""RFM's quintile from cut points equals the rank formula of docs/metrics.md, 1 + floor(5 * (rank - 1) / n)
with RANK() ties, computed here in plain Python on the same values."""

from __future__ import annotations

import ibis
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from clientela.segments.rfm import BUCKET_EDGES, quintile_by_cut_points


def by_rank(values: list[int]) -> list[int]:
    n = len(values)
    return [1 + (5 * sum(1 for w in values if w < v)) // n for v in values]


def scored(groups: dict[int, list[int]], *, exact: bool = False) -> dict[int, list[int]]:
    rows = [(g, i, v) for g, values in groups.items() for i, v in enumerate(values)]
    table = ibis.memtable(pa.table({"g": [r[0] for r in rows], "i": [r[1] for r in rows],
                                    "v": pa.array([r[2] for r in rows], pa.int64())}))
    keys = ["g"] if len(groups) > 1 else []
    found = quintile_by_cut_points(table, "v", keys, name="m", exact=exact)
    found = found.to_pyarrow().to_pylist()
    out = {g: [0] * len(values) for g, values in groups.items()}
    for row in found:
        out[row["g"]][row["i"]] = row["m"]
    return out


values = st.one_of(st.integers(-50, 50), st.integers(0, 10**6),
                   st.sampled_from([0, 1, 10**15, 10**17, BUCKET_EDGES[100]]))


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.integers(0, 3), st.lists(values, min_size=1, max_size=40),
                       min_size=1, max_size=3))
def test_equals_the_rank_formula(groups: dict[int, list[int]]) -> None:
    expected = {g: by_rank(v) for g, v in groups.items()}
    assert scored(groups) == expected  # two passes over coarse buckets (money)
    assert scored(groups, exact=True) == expected  # one exact histogram (days, counts)


def test_ties_share_a_score_and_many_values_in_one_bucket() -> None:
    # 1000..1099 cents all fall in one coarse bucket: the second pass resolves it
    one_bucket = [1000 + (i * 37) % 100 for i in range(100)] + [1050] * 7
    assert scored({0: one_bucket}) == {0: by_rank(one_bucket)}
    assert scored({0: [5, 5, 5, 5]}) == {0: [1, 1, 1, 1]}
    assert scored({0: [1, 2, 3, 4, 5, 6]}) == {0: [1, 1, 2, 3, 4, 5]}
