"""The store's SQL translation leaves sqlglot's shared PostgreSQL dialect alone.

sqlglot caches a generator's dispatch table on its first use, and Ibis adds its renames
(`DATE_FROM_PARTS` -> `make_date`, ...) to that shared generator when its SQL backends load.
A process that used a PostgreSQL store before the KPI engine must still get Ibis's SQL
right: these run in a fresh interpreter, where the store's translation comes first.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from clientela.testing.engines import PostgresServer


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_ibis_still_renames_date_from_parts_after_the_store_translated_sql() -> None:
    out = _run("""
        import sys
        assert "ibis.backends.sql.dialects" not in sys.modules
        from clientela.store.dialect import POSTGRES
        POSTGRES.sql("SELECT a FROM (SELECT 1 AS a) WHERE a = ?", params=True)
        import ibis
        t = ibis.table({"y": "int64"}, name="t")
        print(ibis.to_sql(t.select(d=ibis.date(t.y, 2, 29)), dialect="postgres"))
    """)
    assert "MAKE_DATE(" in out and "DATE_FROM_PARTS" not in out


@pytest.mark.postgres
def test_a_postgres_store_then_compute_on_postgres_in_one_process(
        clientela_postgres: PostgresServer) -> None:
    server = clientela_postgres
    url = f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"
    out = _run("""
        import sys
        from datetime import datetime
        from decimal import Decimal
        import ibis
        from clientela.kpi import compute
        from clientela.model import Order
        from clientela.store import Store

        with Store(sys.argv[1]) as store:  # the store's SQL is translated first
            store.upsert([Order(source="t", order_id=f"o{i}", customer_id=f"c{i % 2}",
                                status="paid", placed_at=datetime(2024, 3, 1 + i),
                                subtotal=Decimal("10.50"), total=Decimal("10.50"),
                                channel="web")
                          for i in range(3)])
            orders = store.ibis().table("orders")
            day = ibis.date(orders.placed_at.year(), 2, 29)  # make_date on PostgreSQL
            print(orders.filter(orders.placed_at.date() > day).count().execute())
            result = compute(store, ["revenue"], start="2024-03", end="2024-04",
                             grain="month", timezone="UTC")
            print(result.to_arrow().column("value").to_pylist())
    """, url)
    count, values = out.strip().splitlines()
    assert count == "3"
    assert values == "[31.5]"  # three orders of 10.50 in March
