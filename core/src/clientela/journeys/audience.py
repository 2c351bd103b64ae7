"""Audiences: who a journey or a campaign may reach.

A rule in the segment rule language (`total_spent > 500 and city == 'Recife'`)
over per-customer features computed as of one moment, or a segment of any
registered segmenter (`rfm:Champions`; a clustering plugin's `kmeans:3`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from clientela.destinations.rules import compile_rule
from clientela.identity.analytics import person_join
from clientela.journeys.ledger import naive
from clientela.journeys.spec import AUDIENCE_COLUMNS
from clientela.journeys.triggers import VALID
from clientela.store import Store


def _features_sql(store: Store) -> str:
    """Per customer record: its own descriptive columns, and the orders, money, recency and
    points of its person (all her records' with persons, `clientela.identity`)."""
    customer_join, customer_person = person_join(store, "c")
    order_join, order_person = person_join(store, "x")
    points_join, points_person = person_join(store, "e")
    return f"""
        SELECT c.customer_id, c.city, c.region, c.country, c.acquisition_channel,
               c.home_store_id, coalesce(o.orders, 0) AS orders,
               coalesce(o.total_spent, 0) AS total_spent,
               -- days between calendar dates (UTC), as DuckDB counts them on timestamps
               date_diff('day', CAST(o.last_at AS DATE), CAST($as_of AS DATE))
                 AS days_since_last_order,
               coalesce(l.points, 0) AS loyalty_points
        FROM customers c {customer_join}
        LEFT JOIN (SELECT {order_person} AS person, count(*) AS orders,
                          sum(x.total) AS total_spent, max(x.placed_at) AS last_at
                   FROM orders x {order_join} WHERE x.{VALID} AND x.placed_at < $as_of
                   GROUP BY 1) o
          ON o.person = {customer_person}
        LEFT JOIN (SELECT {points_person} AS person, sum(e.points) AS points
                   FROM loyalty_events e {points_join}
                   WHERE e.occurred_at < $as_of GROUP BY 1) l
          ON l.person = {customer_person}"""


def rule_members(store: Store, rule: str, as_of: datetime,
                 among: Sequence[str] | None = None) -> set[str]:
    """Customers matching `rule` as of `as_of` (only those in `among`, when given)."""
    predicate = compile_rule(rule, AUDIENCE_COLUMNS)
    con = store.con
    sql = f"SELECT customer_id FROM ({_features_sql(store)}) WHERE {predicate}"
    if among is not None:
        con.register("_audience_ids", pa.table({"id": pa.array(list(among), pa.string())}))
        sql += " AND customer_id IN (SELECT id FROM _audience_ids)"
    try:
        rows = con.execute(sql, {"as_of": naive(as_of)}).fetchall()
    finally:
        if among is not None:
            con.unregister("_audience_ids")
    return {str(r[0]) for r in rows}


def segment_members(store: Store, segmenter: str, segment: str, as_of: datetime,
                    timezone: str, currency: str) -> set[str]:
    """Customers a registered segmenter puts in `segment` as of `as_of`."""
    from clientela import plugins
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.engine import backend_of
    from clientela.kpi.periods import Period

    spec = plugins.registry().get("segmenter", segmenter)
    backend = backend_of(store)
    moment = naive(as_of)
    period = Period(moment, moment, moment, moment, "as_of")
    ctx = MetricContext(backend=backend, period=period, as_of=moment, timezone=timezone,
                        currency=currency, metric="audience", cache=TableCache(backend))
    table = spec.segment(ctx, spec.params()).to_pyarrow()
    segments = table.column("segment").to_pylist()
    ids = table.column("customer_id").to_pylist()
    return {str(c) for c, s in zip(ids, segments, strict=True) if str(s) == segment}


def resolve(store: Store, audience: str, as_of: datetime, timezone: str,
            currency: str) -> set[str]:
    """`rule:<expression>`, `<segmenter>:<segment>`, or `all`."""
    text = audience.strip()
    if text == "all":
        return {str(r[0]) for r in store.con.execute("SELECT customer_id FROM customers")
                .fetchall()}
    kind, sep, rest = text.partition(":")
    if not sep or not rest.strip():
        raise ValueError(f"audience {audience!r}: expected rule:<expression>, "
                         "<segmenter>:<segment> (e.g. rfm:Champions) or all")
    if kind == "rule":
        return rule_members(store, rest, as_of)
    return segment_members(store, kind, rest.strip(), as_of, timezone, currency)
