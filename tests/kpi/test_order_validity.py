"""The one order-validity rule (`clientela.kpi.retail.invalid_order`) as every reader applies
it: cancelled, fully refunded and status-less orders are invalid, every other status valid,
and the rule is never null, so its negation keeps exactly the valid orders."""

from __future__ import annotations

import ibis

from clientela.kpi.retail import invalid_order
from clientela.model import OrderStatus


def test_invalid_order_names_cancelled_refunded_and_no_status() -> None:
    statuses = [s.value for s in OrderStatus] + [None]
    orders = ibis.memtable({"status": statuses}, schema={"status": "string"})
    con = ibis.duckdb.connect()
    rows = con.to_pyarrow(orders.select("status", bad=invalid_order(orders),
                                        good=~invalid_order(orders))).to_pylist()
    got = {row["status"]: (row["bad"], row["good"]) for row in rows}
    assert got == {
        "pending": (False, True),
        "paid": (False, True),
        "fulfilled": (False, True),
        "partially_refunded": (False, True),
        "refunded": (True, False),
        "cancelled": (True, False),
        None: (True, False),
    }
