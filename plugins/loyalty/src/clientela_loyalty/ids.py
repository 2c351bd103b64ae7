"""The engine's event ids: one kind and one order key (or lot key) per ledger row.

Every row the engine writes is under source `loyalty`, and `loyalty_events`
is keyed by (source, event_id), so an id must name the order's whole key,
(source, order_id): a Shopify order "1001" and a POS order "1001" are two
orders, and ids made of the order id alone (`earn:1001`, the scheme before
`ID_SCHEME` 2) let one overwrite the other, losing a customer's points.

An order's part of an id is `<len(source)>:<source>:<order_id>`, e.g.
`earn:7:shopify:1001`. The length prefix, rather than a plain separator,
is what makes the encoding injective: sources and order ids are free text
and may hold `:` themselves (with `earn:{source}:{order_id}`, source "a:b"
with order "c" and source "a" with order "b:c" would both give
`earn:a:b:c`). Reading the digits up to the first `:` gives the source's
length, so the source and then the order id (the rest) are recovered
unambiguously. The expiry of an adjustment's lot is `expire:<its adjust
event id>` (`expire:adjust:...`, as `adjust.Adjustment.event_id` makes them), which
never starts with a digit, so it cannot equal an order lot's expiry either.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

ID_SCHEME = 2
"""The version of the id format, folded into the engine's cursor fingerprint: a ledger
written under another scheme (1: `earn:{order_id}`) is replayed whole once, which rewrites
every row under its new id and deletes the rows under old ids."""


def order_key(source: str, order_id: str) -> str:
    """The id part naming the order (`source`, `order_id`)."""
    return f"{len(source)}:{source}:{order_id}"


ORDER_KEY_SQL = "CAST(length(source) AS VARCHAR) || ':' || source || ':' || order_id"
"""`order_key` in SQL over a table with `source` and `order_id` columns (DuckDB's `length`
counts characters, as Python's `len` does)."""


def order_keys(sources: pa.Array, order_ids: pa.Array) -> pa.Array:
    """`order_key` of each (source, order id) pair, vectorised for the queued ledger."""
    lengths = pc.cast(pc.utf8_length(sources), pa.string())
    return pc.binary_join_element_wise(lengths, sources, order_ids, ":")


def event_ids(kind: str, keys: pa.Array) -> pa.Array:
    """`kind:key` for each key."""
    return pc.binary_join_element_wise(pa.scalar(f"{kind}:"), keys, "")


__all__ = ["ID_SCHEME", "ORDER_KEY_SQL", "event_ids", "order_key", "order_keys"]
