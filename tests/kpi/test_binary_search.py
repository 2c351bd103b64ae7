"""bucket_index, count_at_or_before and pick_value are one Ibis node each (BinarySearch), so a
series query compiles fast; they must still write exactly the nested CASEs the plain Ibis
`ifelse` chain writes, on every engine's dialect, and answer the same numbers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import ibis
import pytest

from clientela.kpi.sql import BinarySearch, bucket_index, count_at_or_before, pick_value

STARTS = [datetime(2023 + m // 12, m % 12 + 1, 1, 3) for m in range(36)]
DAYS = [date(2024, 1, 1 + i) for i in range(7)]


def chain_bucket(value: Any, starts: list[Any]) -> Any:
    """The former definitions, as Ibis ifelse chains: the reference."""
    def search(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return ibis.literal(lo, type="int64")
        mid = (lo + hi) // 2
        return ibis.ifelse(value < ibis.literal(starts[mid]), search(lo, mid), search(mid, hi))
    return search(0, len(starts))


def chain_count(value: Any, instants: list[Any]) -> Any:
    def search(lo: int, hi: int) -> Any:
        if lo == hi:
            return ibis.literal(lo, type="int64")
        mid = (lo + hi) // 2
        return ibis.ifelse(value < ibis.literal(instants[mid]), search(lo, mid),
                           search(mid + 1, hi))
    return search(0, len(instants))


def chain_pick(index: Any, values: list[Any]) -> Any:
    def pick(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return ibis.literal(values[lo])
        mid = (lo + hi) // 2
        return ibis.ifelse(index < mid, pick(lo, mid), pick(mid, hi))
    return pick(0, len(values))


T = ibis.table({"ts": "timestamp", "d": "date", "k": "int64"}, name="t")
CASES = [
    ("bucket, 36 months", bucket_index(T.ts, STARTS), chain_bucket(T.ts, STARTS)),
    ("bucket, days", bucket_index(T.d, DAYS), chain_bucket(T.d, DAYS)),
    ("bucket, one period", bucket_index(T.ts, STARTS[:1]), chain_bucket(T.ts, STARTS[:1])),
    ("count, 36 ends", count_at_or_before(T.ts, STARTS), chain_count(T.ts, STARTS)),
    ("count, one end", count_at_or_before(T.ts, STARTS[:1]), chain_count(T.ts, STARTS[:1])),
    ("count, no end", count_at_or_before(T.d, []), chain_count(T.d, [])),
    ("pick timestamps", pick_value(T.k, STARTS), chain_pick(T.k, STARTS)),
    ("pick numbers", pick_value(T.k, [1.5, 2, 3]), chain_pick(T.k, [1.5, 2, 3])),
    ("pick one string", pick_value(T.k, ["x"]), chain_pick(T.k, ["x"])),
]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize(("label", "node", "chain"), CASES, ids=[c[0] for c in CASES])
def test_the_sql_is_the_ifelse_chain_s(dialect: str, label: str, node: Any, chain: Any) -> None:
    assert node.type() == chain.type()
    assert ibis.to_sql(T.select(v=node), dialect=dialect) == ibis.to_sql(
        T.select(v=chain), dialect=dialect)


def test_a_search_is_one_node() -> None:
    op = bucket_index(T.ts, STARTS).op()
    assert isinstance(op, BinarySearch)
    assert not list(op.find(ibis.expr.operations.IfElse))


def test_the_answers_on_duckdb() -> None:
    """Values at, just before and just after bounds, computed by hand."""
    starts = [datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 3, 1)]
    rows = {"ts": [datetime(2025, 1, 1), datetime(2025, 1, 31, 23, 59), datetime(2025, 2, 1),
                   datetime(2025, 3, 1), datetime(2025, 12, 31), datetime(2024, 12, 31)],
            "k": [0, 1, 2, 0, 1, 2]}
    t = ibis.memtable(rows)
    con = ibis.duckdb.connect()
    out = con.to_pyarrow(t.select(
        b=bucket_index(t.ts, starts), c=count_at_or_before(t.ts, starts),
        p=pick_value(t.k, ["a", "b", "c"]))).to_pydict()
    # bucket: a value before the span stays in bucket 0 (callers filter to the span first)
    assert out["b"] == [0, 0, 1, 2, 2, 0]
    assert out["c"] == [1, 1, 2, 3, 3, 0]
    assert out["p"] == ["a", "b", "c", "a", "b", "c"]
