"""Orders from arrays, in the store's exact schema: the tests and the benchmark share it.

A published data set (CDNOW) or a simulated BG/NBD process is a list of
(customer, time, amount); checking the engine's summary against it needs
those rows in a real store, written through the same upsert path as any
source, without building millions of pydantic records.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from clientela.clv.models.simulate import SimulatedOrders
from clientela.model import Order
from clientela.store import Store
from clientela.store.columns import arrow_schema

SOURCE = "synthetic"
_MONEY = pa.decimal128(18, 2)


def orders_table(customer_id: ArrayLike, placed_at_us: ArrayLike, amount_cents: ArrayLike, *,
                 status: ArrayLike | None = None, source: str = SOURCE) -> pa.Table:
    """Orders with ids o0, o1, ...; `placed_at_us` is naive UTC microseconds since the epoch.

    Amounts are whole cents so that they are exactly representable as the
    store's DECIMAL(18, 2); every order is `fulfilled` unless `status` says otherwise.
    """
    customers = pa.array(np.asarray(customer_id).astype(str), pa.string())
    placed = np.asarray(placed_at_us, dtype=np.int64)
    cents = np.asarray(amount_cents, dtype=np.int64)
    n = len(customers)
    if placed.shape[0] != n or cents.shape[0] != n:
        raise ValueError("customer_id, placed_at_us and amount_cents differ in length")
    money = _cents_to_money(cents)
    zero = _cents_to_money(np.zeros(n, dtype=np.int64))
    statuses = (pa.array(np.asarray(status).astype(str), pa.string()) if status is not None
                else pa.array(["fulfilled"] * n, pa.string()))
    columns = {
        "source": pa.array([source] * n, pa.string()),
        "order_id": pa.array(np.char.add("o", np.arange(n).astype(str)), pa.string()),
        "customer_id": customers,
        "status": statuses,
        "placed_at": pa.array(placed, pa.timestamp("us")),
        "updated_at": pa.nulls(n, pa.timestamp("us")),
        "currency": pa.array([""] * n, pa.string()),
        "fx_rate": pa.nulls(n, pa.decimal128(18, 8)),
        "subtotal": money,
        "discount": zero,
        "shipping": zero,
        "tax": zero,
        "total": money,
        "refunded_amount": zero,
        "channel": pa.array(["online"] * n, pa.string()),
        "store_id": pa.nulls(n, pa.string()),
        "salesperson_id": pa.nulls(n, pa.string()),
        "coupon": pa.nulls(n, pa.string()),
        "loyalty_points_earned": pa.array(np.zeros(n, dtype=np.int64)),
        "loyalty_points_redeemed": pa.array(np.zeros(n, dtype=np.int64)),
        "loyalty_discount": zero,
    }
    return pa.table(columns, schema=arrow_schema(Order))


def _cents_to_money(cents: np.ndarray) -> pa.Array:
    """DECIMAL(18, 2) straight from unscaled cents: 128-bit little-endian two's complement,
    so millions of amounts convert exactly without a Python object each."""
    words = np.empty((cents.shape[0], 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(_MONEY, cents.shape[0], [None, pa.py_buffer(words.tobytes())])


def write_orders(store: Store, table: pa.Table, *, chunk_rows: int = 2_000_000) -> int:
    """Upsert through the store's batch path, in chunks so memory stays bounded."""
    written = 0
    for offset in range(0, table.num_rows, chunk_rows):
        written += store.write_batch(Order, table.slice(offset, chunk_rows)).counts.loaded
    return written


def simulated_orders_table(simulated: SimulatedOrders, *, end: datetime,
                           seconds_per_unit: float = 86_400.0) -> pa.Table:
    """Place simulated customers on a calendar that ends at `end` (naive UTC).

    Each customer's first purchase is `age` units before `end`, so the summary
    as of `end` has the simulated ages; amounts are rounded to cents (at least
    one cent, since Gamma-Gamma needs positive spend).
    """
    end_us = int((end - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
    first_us = end_us - np.round(simulated.age * seconds_per_unit * 1e6).astype(np.int64)
    offset_us = np.round(simulated.time * seconds_per_unit * 1e6).astype(np.int64)
    placed = first_us[simulated.customer] + offset_us
    placed = np.minimum(placed, end_us - 1)
    cents = np.maximum(np.round(simulated.amount * 100), 1).astype(np.int64)
    return orders_table(simulated.customer, placed, cents)
