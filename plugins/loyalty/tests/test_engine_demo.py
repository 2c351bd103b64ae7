"""The demo store's programme, checked against the engine.

The demo generator writes its own ledger (1 point per BRL of total less shipping less
refunds, 500 points to redeem, lots expiring 365 days later, marketplace and USD orders
outside the programme, about 70% of customers members). The engine, given the same rules,
must write the same ledger for every member whose history the two models read alike: BRL
orders, none refunded or cancelled (the generator folds a refund into the points earned;
the engine earns first and reverses when the refund comes).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from _loyalty_support import scratch_store
from clientela_loyalty.engine import run
from clientela_loyalty.rules import LoyaltyRules

from clientela.demo import generate
from clientela.demo.loyalty import EXPIRY_DAYS, REDEEM_BLOCK_POINTS, REDEEM_BLOCK_VALUE
from clientela.model.entities import Order

RULES = LoyaltyRules(exclude_channels=["marketplace"], expiry_days=EXPIRY_DAYS,
                     redemption_threshold=REDEEM_BLOCK_POINTS,
                     point_value=REDEEM_BLOCK_VALUE / REDEEM_BLOCK_POINTS)


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in (
        "customer_id", "kind", "points", "occurred_at", "order_id", "expires_at")), strict=True),
        key=lambda r: (r[0], r[3], {"expire": 0, "redeem": 1, "earn": 2}[str(r[1])], r[2]))


@pytest.mark.slow
def test_the_demo_ledger_is_the_engines() -> None:
    demo = generate(customers=1500, orders=6000, seed=7)
    orders, events = demo.tables["orders"], demo.tables["loyalty_events"]
    members = pc.unique(events.column("customer_id"))
    unlike = orders.filter(pc.or_(
        pc.invert(pc.is_in(orders.column("status"), pa.array(["paid", "fulfilled"]))),
        pc.equal(orders.column("currency"), "USD")))
    excluded = pc.unique(unlike.column("customer_id").drop_null())
    chosen = pc.filter(members, pc.invert(pc.is_in(members, excluded)))
    assert len(chosen) > 300  # enough members to mean something
    mine = orders.filter(pc.is_in(orders.column("customer_id"), chosen))
    store = scratch_store()
    store.write_batch(Order, mine)
    # the generator's ledger stops at its last entry: so does the engine's
    until = max(events.column("occurred_at").to_pylist()).replace(tzinfo=UTC) \
        + timedelta(microseconds=1)
    summary = run(store, RULES, until=until, timezone="America/Sao_Paulo")
    assert summary.capped_redemptions == 0
    theirs = events.filter(pc.is_in(events.column("customer_id"), chosen))
    ours = store.con.execute(
        "SELECT * FROM loyalty_events").fetch_arrow_table()
    assert {str(k) for k in ours.column("kind").to_pylist()} == {"earn", "redeem", "expire"}
    assert ours.num_rows > 1000
    assert _rows(ours) == _rows(theirs)
    assert RULES.point_value == Decimal("0.05")
