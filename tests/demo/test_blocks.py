"""A store generated in blocks is one store: unique keys, whole references, summed totals.

Blocks of 3,000 orders make a 10,000-order store of four blocks, so what the
10M-order store does (20 blocks of 500k) is checked here in seconds.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from clientela.demo import DemoBuilder, DemoData, Tables, generate, load
from clientela.demo.build import block_sizes
from clientela.demo.campaigns import COST_PER_CONTACT_CENTS, FIXED_COST_CENTS
from clientela.model import entity_for
from clientela.store import Store

ARGS = {"customers": 2_000, "orders": 10_000, "seed": 7, "block_orders": 3_000}
LOCAL = pd.Timedelta(hours=3)


@pytest.fixture(scope="module")
def blocked() -> DemoData:
    return generate(**ARGS)


def test_block_sizes_split_evenly_and_sum_to_the_asked() -> None:
    assert block_sizes(2_000, 10_000, 3_000) == [(500, 2_500)] * 4
    assert block_sizes(20_000, 100_000, 500_000) == [(20_000, 100_000)]
    assert block_sizes(1_000_001, 10_000_000, 500_000) == [(50_000, 500_000)] * 19 + [
        (50_001, 500_000)]
    assert block_sizes(30, 100_000, 1_000) == [(10, 33_333), (10, 33_333), (10, 33_334)]
    with pytest.raises(ValueError, match="block_orders"):
        block_sizes(100, 1_000, 0)


def test_keys_are_unique_and_every_reference_lands(blocked: DemoData) -> None:
    f = {name: blocked[name].to_pandas() for name in
         ("customers", "orders", "order_lines", "touches", "loyalty_events", "nps_responses",
          "opportunities")}
    for table, key in (("customers", "customer_id"), ("orders", "order_id"),
                       ("touches", "touch_id"), ("loyalty_events", "event_id"),
                       ("nps_responses", "response_id"), ("opportunities", "opportunity_id")):
        assert f[table][key].is_unique, table
        assert f[table][key].str.len().nunique() == 1, table  # one width: keys sort as numbers
    assert f["customers"].customer_id.tolist() == [f"c{k:07d}" for k in range(1, 2_001)]
    assert f["customers"].email.dropna().is_unique
    customers = set(f["customers"].customer_id)
    orders = set(f["orders"].order_id)
    for table in ("orders", "touches", "loyalty_events", "nps_responses"):
        assert set(f[table].customer_id.dropna()) <= customers, table
    assert set(f["order_lines"].order_id) == orders
    assert set(f["loyalty_events"].order_id.dropna()) <= orders
    assert f["order_lines"].groupby("order_id").line_id.apply(
        lambda s: s.is_unique).all()


def test_the_truth_is_the_data_across_blocks(blocked: DemoData) -> None:
    truth = blocked.truth
    orders = blocked["orders"].select(["customer_id", "status", "placed_at"]).to_pandas()
    valid = orders[~orders.status.isin(["cancelled", "refunded"])]
    per = truth.per_customer.to_pandas()
    assert len(per) == truth.buyers == valid.customer_id.nunique()
    counts = valid.groupby("customer_id").size()
    assert (counts.loc[per.customer_id].to_numpy() == per.repeat_purchases.to_numpy() + 1).all()
    origins = truth.orders_by_origin
    assert origins["first"] + origins["repeat"] + origins["campaign"] == len(valid)
    statuses = orders.status.value_counts()
    assert origins["cancelled"] == statuses["cancelled"]
    assert origins["refunded"] == statuses["refunded"]
    assert origins["partially_refunded"] == statuses["partially_refunded"]
    # one alpha for the whole store (solved on the first block), and the count asked for
    assert abs(len(orders) / 10_000 - 1) < 0.05
    local = (valid.placed_at - LOCAL).dt.floor("D")
    assert not pd.DataFrame({"c": valid.customer_id, "d": local}).duplicated().any()


def test_store_wide_tables_are_totals_over_the_blocks(blocked: DemoData) -> None:
    touches = blocked["touches"].to_pandas()
    sent = touches[~touches.is_control].groupby("campaign_id").size()
    campaigns = blocked["campaigns"].to_pandas().set_index("campaign_id")
    marketing = campaigns[campaigns.kind == "marketing"]
    for campaign_id, row in marketing.iterrows():
        expected = FIXED_COST_CENTS[row.channel] \
            + COST_PER_CONTACT_CENTS[row.channel] * int(sent.get(campaign_id, 0))
        assert row.cost == Decimal(expected).scaleb(-2), campaign_id
    truth = {c.campaign_id: c for c in blocked.truth.campaigns}
    assert {k: truth[k].contacted for k in marketing.index} == {
        k: int(sent.get(k, 0)) for k in marketing.index}
    orders = blocked["orders"].select(["placed_at", "channel"]).to_pandas()
    day = (orders.placed_at - LOCAL).dt.date
    traffic = blocked["traffic"].to_pandas()
    assert len(traffic) == 2 * 1096 and traffic[["day", "channel"]].value_counts().max() == 1
    for channel in ("online", "app"):
        per_day = day[orders.channel == channel].value_counts()
        sessions = traffic[traffic.channel == channel].set_index("day").sessions
        assert (sessions.loc[per_day.index] >= per_day).all()


@pytest.mark.slow
def test_loading_block_by_block_gives_the_same_store(blocked: DemoData, tmp_path: Path
                                                     ) -> None:
    builder = DemoBuilder(**ARGS, keep_per_customer=False)
    with Store(tmp_path / "blocks.duckdb") as store:
        for block in builder.blocks():
            load(store, Tables(block))
        load(store, Tables(builder.store_wide()))
        for name, table in blocked.tables.items():
            key = ", ".join(f'"{k}"' for k in entity_for(name).key_fields)
            got = store.con.execute(f'SELECT count(*), count(DISTINCT ({key})) FROM "{name}"'
                                    ).fetchone()
            assert got == (table.num_rows, table.num_rows), name
        assert store.con.execute("SELECT sum(total) FROM orders").fetchone() == (
            sum(blocked["orders"].column("total").to_pylist()),)
    assert builder.truth().alpha == blocked.truth.alpha
    assert builder.truth().per_customer.num_rows == 0  # not kept: memory stays flat


def test_blocks_must_all_be_drawn_before_the_totals() -> None:
    builder = DemoBuilder(**ARGS)
    with pytest.raises(RuntimeError, match="every block"):
        builder.store_wide()


def test_a_single_block_store_is_the_one_generate_always_drew(demo: DemoData,
                                                              demo_args: dict[str, int]) -> None:
    """Up to BLOCK_ORDERS the store is one block, drawn from the streams it always was:
    the blocked generator adds nothing to it (the session's demo is one block)."""
    again = generate(**demo_args, block_orders=10_000)
    for name, table in demo.tables.items():
        assert again[name].equals(table), name
    first = np.array(demo["customers"].column("customer_id").to_pylist()[:3])
    assert first.tolist() == ["c0000001", "c0000002", "c0000003"]


def test_streamed_blocks_are_the_store_generate_joins(blocked: DemoData) -> None:
    """`clientela demo` writes each block and drops it; what it writes, block after block,
    is exactly the store `generate` holds in memory (so the in-memory tests vouch for it)."""
    builder = DemoBuilder(**ARGS, keep_per_customer=False)
    parts: dict[str, list[pa.Table]] = {}
    for block in builder.blocks():
        for name, table in block.items():
            parts.setdefault(name, []).append(table)
    assert len(parts["orders"]) == 4
    streamed = {name: pa.concat_tables(found) for name, found in parts.items()}
    streamed.update(builder.store_wide())
    assert set(streamed) == set(blocked.tables)
    for name, table in blocked.tables.items():
        assert streamed[name].equals(table), name
    truth = builder.truth()
    assert (truth.alpha, truth.b, truth.buyers, truth.orders_by_origin, truth.campaigns) == (
        blocked.truth.alpha, blocked.truth.b, blocked.truth.buyers,
        blocked.truth.orders_by_origin, blocked.truth.campaigns)
