"""What the ledger is computed from, read from the store in one query per table.

An order's money is read in the reporting currency and in integer cents, so
that points are counted with integer arithmetic (no float that rounds 29.00
down to 28). Manual adjustments are the engine's own `adjust` rows: they are
the one kind of entry a person writes, so the engine reads them back as input
and never rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from clientela.identity.analytics import person_join
from clientela.model import INVALID_ORDER_STATUSES
from clientela_loyalty.calendar import Micros
from clientela_loyalty.rules import LoyaltyRules

ENGINE_SOURCE = "loyalty"
"""The `source` of every ledger row the engine (or `clientela loyalty adjust`) writes."""


@dataclass(frozen=True)
class Orders:
    """Orders of customers, sorted by (customer, placed_at, order_id)."""

    customer: pa.Array
    order_id: pa.Array
    source: pa.Array
    """The order's source: with `order_id`, its key (two sources may both have an order
    "1001"), written on the rows as `order_source`."""
    placed: Micros
    updated: Micros
    valid: np.ndarray
    """Neither cancelled nor fully refunded: counts as a purchase and as tier spend."""
    reversed_share: list[tuple[int, int]]
    """(refunded, total) in cents: the share of the order taken back; (1, 1) when cancelled."""
    eligible_cents: Micros
    """Net paid value (total less shipping) that earns points: 0 for an excluded order."""
    spend_cents: Micros
    """Net paid value after refunds, for tiers."""
    redeemed_points: Micros

    def slice(self, start: int, stop: int) -> Orders:
        """Rows `start` to `stop` (exclusive), without copying the arrays."""
        return Orders(
            customer=self.customer[start:stop], order_id=self.order_id[start:stop],
            source=self.source[start:stop], placed=self.placed[start:stop], updated=self.updated[start:stop],
            valid=self.valid[start:stop], reversed_share=self.reversed_share[start:stop],
            eligible_cents=self.eligible_cents[start:stop],
            spend_cents=self.spend_cents[start:stop],
            redeemed_points=self.redeemed_points[start:stop])

    def take(self, mask: np.ndarray) -> Orders:
        """The orders where `mask` holds, in the same order."""
        keep = pa.array(mask)
        return Orders(
            customer=self.customer.filter(keep), order_id=self.order_id.filter(keep),
            source=self.source.filter(keep), placed=self.placed[mask],
            updated=self.updated[mask], valid=self.valid[mask],
            reversed_share=[s for s, m in zip(self.reversed_share, mask.tolist(), strict=True)
                            if m],
            eligible_cents=self.eligible_cents[mask], spend_cents=self.spend_cents[mask],
            redeemed_points=self.redeemed_points[mask])


@dataclass(frozen=True)
class Adjustments:
    customer: pa.Array
    event_id: list[str]
    at: Micros
    points: Micros


    def take(self, mask: np.ndarray) -> Adjustments:
        """The adjustments where `mask` holds, in the same order."""
        keep = pa.array(mask)
        return Adjustments(customer=self.customer.filter(keep),
                           event_id=[e for e, m in zip(self.event_id, mask.tolist(), strict=True)
                                     if m],
                           at=self.at[mask], points=self.points[mask])


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")" if values \
        else "(NULL)"


def _customer_filter(column: str, customers: pa.Array | None) -> str:
    return "" if customers is None else f" AND {column} IN (SELECT customer_id FROM _wanted)"


def read_orders(con: duckdb.DuckDBPyConnection, rules: LoyaltyRules, until_us: int,
                customers: pa.Array | None = None, *, by_person: bool = False) -> Orders:
    """The orders placed before `until` of every customer (or of `customers` only).
    `by_person`: each order's customer is its person (`clientela.identity`), so a
    person's orders on all her records replay as one wallet."""
    person_link, who = person_join(con, "o") if by_person else ("", "o.customer_id")
    cents = "CAST(round(({x}) * coalesce(o.fx_rate, 1), 2) * 100 AS BIGINT)"
    invalid = _in_list(sorted(INVALID_ORDER_STATUSES))
    skus = _in_list(rules.exclude_skus)
    lines = "NULL::BIGINT AS line_cents, NULL::BIGINT AS excluded_cents"
    join = ""
    if rules.exclude_skus:
        lines = "l.line_cents, l.excluded_cents"
        join = f"""LEFT JOIN (SELECT source, order_id,
                       CAST(sum(total) * 100 AS BIGINT) AS line_cents,
                       CAST(coalesce(sum(total) FILTER (WHERE sku IN {skus}), 0) * 100
                            AS BIGINT) AS excluded_cents
                   FROM order_lines GROUP BY ALL) l
                   ON l.source = o.source AND l.order_id = o.order_id"""
    excluded = (f"(o.channel IN {_in_list(rules.exclude_channels)} "
                f"OR coalesce(o.store_id IN {_in_list(rules.exclude_stores)}, false))")
    if customers is not None:
        con.register("_wanted", pa.table({"customer_id": customers}))
    try:
        table = con.execute(f"""
            SELECT {who} AS customer_id, o.order_id, o.source,
                   epoch_us(o.placed_at) AS placed,
                   epoch_us(greatest(coalesce(o.updated_at, o.placed_at), o.placed_at)) AS updated,
                   o.status, o.status NOT IN {invalid} AS valid,
                   {cents.format(x="o.total - o.shipping")} AS net_cents,
                   {cents.format(x="o.total")} AS total_cents,
                   {cents.format(x="o.refunded_amount")} AS refunded_cents,
                   {cents.format(x="o.loyalty_discount")} AS loyalty_cents,
                   o.loyalty_points_redeemed AS redeemed, {excluded} AS excluded, {lines}
            FROM orders o {join} {person_link}
            WHERE o.customer_id IS NOT NULL AND epoch_us(o.placed_at) < ?
                  {_customer_filter("o.customer_id", customers)}
            ORDER BY 1, o.placed_at, o.order_id""", [until_us]).fetch_arrow_table()
    finally:
        if customers is not None:
            con.unregister("_wanted")
    return _orders(table, rules)


def _orders(table: pa.Table, rules: LoyaltyRules) -> Orders:
    col = {name: table.column(name).to_numpy(zero_copy_only=False) for name in (
        "placed", "updated", "net_cents", "total_cents", "refunded_cents", "loyalty_cents",
        "redeemed", "excluded", "valid")}
    net = np.maximum(col["net_cents"].astype(np.int64), 0)
    if rules.exclude_skus:
        lines = table.column("line_cents").fill_null(0).to_numpy().astype(np.int64)
        out = table.column("excluded_cents").fill_null(0).to_numpy().astype(np.int64)
        taken = np.where(lines > 0, net * np.minimum(out, lines) // np.maximum(lines, 1), 0)
        net = net - taken
    status = table.column("status").to_pylist()
    unpaid = np.array([s == "pending" for s in status], dtype=bool)
    eligible = np.where(col["excluded"].astype(bool) | unpaid, 0, net)
    total, refunded = col["total_cents"], col["refunded_cents"]
    share = [(1, 1) if s == "cancelled" else (int(r), int(t)) if r > 0 and t > 0 else (0, 1)
             for s, r, t in zip(status, refunded.tolist(), total.tolist(), strict=True)]
    spend = np.maximum(net - np.maximum(refunded, 0), 0)
    # an order that records only the money of a redemption: the points that money is worth
    value = rules.point_value * 100
    redeemed = col["redeemed"].astype(np.int64).copy()
    money_only = np.flatnonzero((redeemed == 0) & (col["loyalty_cents"] > 0))
    redeemed[money_only] = [int(c / value) for c in col["loyalty_cents"][money_only].tolist()]
    return Orders(
        customer=table.column("customer_id").combine_chunks(),
        order_id=table.column("order_id").combine_chunks(),
        source=table.column("source").combine_chunks(),
        placed=col["placed"].astype(np.int64), updated=col["updated"].astype(np.int64),
        valid=col["valid"].astype(bool), reversed_share=share,
        eligible_cents=eligible.astype(np.int64), spend_cents=spend.astype(np.int64),
        redeemed_points=redeemed)


def read_adjustments(con: duckdb.DuckDBPyConnection, until_us: int,
                     customers: pa.Array | None = None, *,
                     by_person: bool = False) -> Adjustments:
    """The engine's adjustments before `until` (`by_person`: keyed by their person)."""
    person_link, who = person_join(con, "a") if by_person else ("", "a.customer_id")
    if customers is not None:
        con.register("_wanted", pa.table({"customer_id": customers}))
    try:
        table = con.execute(f"""
            SELECT {who} AS customer_id, a.event_id, epoch_us(a.occurred_at) AS at, a.points
            FROM loyalty_events a {person_link}
            WHERE a.source = '{ENGINE_SOURCE}' AND a.kind = 'adjust'
                  AND epoch_us(a.occurred_at) < ? {_customer_filter("a.customer_id", customers)}
            ORDER BY 1, a.occurred_at, a.event_id""", [until_us]).fetch_arrow_table()
    finally:
        if customers is not None:
            con.unregister("_wanted")
    return Adjustments(customer=table.column("customer_id").combine_chunks(),
                       event_id=table.column("event_id").to_pylist(),
                       at=table.column("at").to_numpy().astype(np.int64),
                       points=table.column("points").to_numpy().astype(np.int64))
