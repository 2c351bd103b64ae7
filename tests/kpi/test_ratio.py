"""`ratio` (kpi/sql.py): a float64 quotient, null where the denominator is zero or null, the
same on DuckDB and PostgreSQL (integers divided exactly: PostgreSQL truncates 7 / 2 to 3),
whether the zero is written as a CASE or made null by NULLIF."""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa
import pytest

from clientela.kpi.sql import ratio
from clientela.testing.engines import postgres_backend

ROWS = pa.table({
    "i": pa.array([7, 1, 0, 5, None, -3], pa.int64()),
    "n": pa.array([2, 0, 0, None, 4, 4], pa.int64()),
    "x": pa.array([1.0, 2.0, -1.5, 3.0, 0.0, None], pa.float64()),
    "d": pa.array([4.0, -0.0, 0.0, 0.5, 3.0, 1.0], pa.float64()),
})
"""Integers and floats; zeros (and a negative zero), nulls on either side."""
BY_HAND = {
    "ints": [3.5, None, None, None, None, -0.75],
    "floats": [0.25, None, None, 6.0, 0.0, None],
    "mixed": [1.75, None, None, 10.0, None, -3.0],
}
"""i / n, x / d and i / d, worked out by hand: null wherever the denominator is 0 or null
(or the numerator null)."""


def _answers(backend: Any) -> dict[str, list[float | None]]:
    t = backend.table("r")
    expr = t.select(ints=ratio(t.i, t.n), floats=ratio(t.x, t.d), mixed=ratio(t.i, t.d))
    assert all(expr[c].type().is_float64() for c in BY_HAND)
    return expr.to_pyarrow().to_pydict()  # type: ignore[no-any-return]


def test_ratio_on_duckdb() -> None:
    backend = ibis.duckdb.connect()
    backend.create_table("r", ROWS)
    assert _answers(backend) == BY_HAND


@pytest.mark.usefixtures("postgres_server")
def test_ratio_on_postgres(postgres_server: Any) -> None:
    assert _answers(postgres_backend({"r": ROWS}, postgres_server)) == BY_HAND


def test_a_ratio_is_one_division_of_casts() -> None:
    """Four nodes fewer than the CASE it replaced: what the catalogue builds about forty
    times a call."""
    t = ibis.table({"a": "int64", "b": "int64"}, name="t")
    op = ratio(t.a, t.b).op()
    assert isinstance(op, ibis.expr.operations.Divide)
    assert not list(op.find(ibis.expr.operations.IfElse))
