"""rfm_segments' mean monetary is the same bits on every run: the exact mean of the
segment's money, rounded once to a double, whatever the thread count.

It was a float average (`mean()` of the money cast to double). On a store large enough for
DuckDB to split the rows between threads, each thread adds its own rows as doubles and the
partial sums meet in whatever order the threads finish: at 1M orders one segment row in 45
changed its last bit from one run to the next. The store here has 300,000 customers (three
of DuckDB's row groups), one order each with cents that doubles cannot hold exactly.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from fractions import Fraction

import pyarrow as pa
import pytest

from clientela.kpi.context import MetricContext
from clientela.kpi.periods import Period
from clientela.metrics.rfm_segments import rfm_segments
from clientela.model import Order
from clientela.segments.rfm import RfmParams, rfm_table_reference
from clientela.store import Store
from clientela.store.upsert import records_to_arrow

pytestmark = pytest.mark.slow  # building the store takes about 7 s

CUSTOMERS = 300_000
AS_OF = datetime(2025, 1, 1)


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    start = datetime(2024, 1, 1, 10)
    # cents from 1.01 to 997.03: most are not a double exactly
    totals = [f"{1 + (i * 7919) % 99_700 / 100:.2f}" for i in range(CUSTOMERS)]
    template = records_to_arrow(Order, [Order(
        source="test", order_id="x", customer_id="x", placed_at=start, total=1,
        subtotal=1, status="paid", channel="online")])
    given = {
        "order_id": [f"o{i}" for i in range(CUSTOMERS)],
        "customer_id": [f"c{i}" for i in range(CUSTOMERS)],
        "placed_at": [start + timedelta(days=i % 360) for i in range(CUSTOMERS)],
        "total": totals, "subtotal": totals,
    }
    # every other column is the template order's value (source, status, currency, zeros)
    table = pa.table({
        name: pa.array(given[name]).cast(template.schema.field(name).type) if name in given
        else pa.repeat(template[name][0], CUSTOMERS).cast(template.schema.field(name).type)
        for name in template.column_names})
    store = Store(tmp_path_factory.mktemp("rfm_bits") / "wide.duckdb")
    store.write_batch(Order, table)
    store.con.execute("SET threads = 4")  # parallel even on a one-core machine
    yield store
    store.close()


def context(store: Store) -> MetricContext:
    return MetricContext(backend=store.ibis(), period=Period(AS_OF, AS_OF, AS_OF, AS_OF, "as_of"),
                         as_of=AS_OF, timezone="UTC", currency="BRL", metric="rfm_segments")


def monetary_by_segment(store: Store) -> dict[str, float]:
    rows = rfm_segments(context(store), RfmParams()).to_pyarrow().to_pylist()
    return {row["item"]: row["monetary"] for row in rows}


def test_mean_monetary_is_the_exact_mean_rounded_once(wide_store: Store) -> None:
    """Each segment's mean, worked out in Python from its customers' exact money (a
    Fraction, rounded to a double once), equals the metric's bit for bit."""
    scored = rfm_table_reference(context(wide_store)).to_pyarrow().to_pylist()
    money: dict[str, list] = defaultdict(list)
    for row in scored:
        money[row["segment"]].append(row["monetary"])
    expected = {segment: float(Fraction(sum(values)) / len(values))
                for segment, values in money.items()}
    assert len(scored) == CUSTOMERS and len(expected) >= 5
    assert monetary_by_segment(wide_store) == expected


def test_mean_monetary_is_the_same_bits_on_every_run(wide_store: Store) -> None:
    first = monetary_by_segment(wide_store)
    for _ in range(3):
        assert monetary_by_segment(wide_store) == first
