"""The KPI engine's view of persons: customer-level tables read through `identity_links`.

A metric asks its context for `orders`, `customers`, `loyalty_events`... and gets them
with `customer_id` replaced by the person it belongs to, so every metric, segmenter and
CLV model built on the context (active and new customers, RFM, clusters, CLV) counts a
woman who bought online and at the till once. The mapping is plain Ibis (a LEFT JOIN of
`identity_links`), so it runs on DuckDB, PySpark and PostgreSQL alike.

Nothing changes when resolution is off (`[identity] enabled = false`, see
`clientela.identity.analytics.resolving`), or when the engine has no `identity_links`
table or an empty one: the tables come back as the store holds them.

The customers table becomes one row per person. A record without a link is left exactly
as it is (so an unlinked customer reads as before); the records of a linked person become
one row whose columns follow these rules (docs/persons.md):

- `customer_id`: the person id;
- `created_at`: the earliest of her records';
- `acquisition_channel`, `home_store_id`: of her earliest record that names one (earliest by
  `created_at`, then by load time, then by customer id), so a POS record's home store is
  kept when she first appeared online;
- every other column (`source`, names, city, the consent columns...): of her earliest
  record. The consent columns are only a record's own statement; whether she may be
  contacted is decided from the consent ledger of all her records (`clientela.consent`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from clientela.identity import IDENTITY_LINKS_TABLE
from clientela.identity.analytics import resolving

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

PERSON_TABLES: frozenset[str] = frozenset({
    "orders", "customers", "loyalty_events", "touches", "opportunities", "nps_responses",
})
"""Store tables whose `customer_id` is read as the person."""
FIRST_PRESENT: tuple[str, ...] = ("acquisition_channel", "home_store_id")
"""Customer columns taken from the person's earliest record that has a value."""


def persons_apply(ctx: MetricContext) -> bool:
    """Resolution is on and the engine holds links (the presence check is cached per call)."""
    return resolving() and ctx.has(IDENTITY_LINKS_TABLE)


def as_persons(ctx: MetricContext, name: str, table: ir.Table) -> ir.Table:
    """`table` (the store table `name`) as persons: see the module docstring."""
    if name not in PERSON_TABLES or "customer_id" not in table.columns \
            or not persons_apply(ctx):
        return table
    if name == "customers":
        return ctx.shared("persons|customers", lambda: _customers(ctx, table))
    return _mapped(ctx, table)


def _links(ctx: MetricContext) -> ir.Table:
    links = (ctx.cache.table(IDENTITY_LINKS_TABLE) if ctx.cache is not None
             else ctx.backend.table(IDENTITY_LINKS_TABLE))
    return links.select(_link_cid=links.customer_id.cast("string"),
                        _person=links.person_id.cast("string"))


def _mapped(ctx: MetricContext, table: ir.Table) -> ir.Table:
    """`table` with each customer_id replaced by its person (itself when it has no link)."""
    links = _links(ctx)
    joined = table.left_join(links, table.customer_id == links._link_cid)
    person = joined._person.coalesce(joined.customer_id).cast(table.customer_id.type())
    return joined.select(*[person.name(c) if c == "customer_id" else joined[c]
                           for c in table.columns])


def _customers(ctx: MetricContext, customers: ir.Table) -> ir.Table:
    """One row per linked person (rules above), and the unlinked records untouched."""
    links = _links(ctx)
    joined = customers.left_join(links, customers.customer_id == links._link_cid)
    types = {c: customers[c].type().copy(nullable=True) for c in customers.columns}
    plain = joined.filter(joined._person.isnull())
    plain = plain.select(*[plain[c].cast(types[c]).name(c) for c in customers.columns])
    linked = joined.filter(joined._person.notnull())
    order = [linked.created_at.isnull(), linked.created_at, linked._loaded_at,
             linked.customer_id, linked.source]
    ranked = linked.mutate(_n=ibis.row_number().over(group_by=linked._person, order_by=order),
                           _first=linked.created_at.min().over(group_by=linked._person))
    earliest = ranked.filter(ranked._n == 0)
    merged = earliest.mutate(customer_id=earliest._person.cast(customers.customer_id.type()),
                             created_at=earliest._first)
    for column in FIRST_PRESENT:
        present = linked.filter(linked[column].notnull())
        first = present.mutate(_m=ibis.row_number().over(
            group_by=present._person,
            order_by=[present.created_at.isnull(), present.created_at, present._loaded_at,
                      present.customer_id, present.source]))
        first = first.filter(first._m == 0).select(_p=first._person, _v=first[column])
        merged = merged.left_join(first, merged._person == first._p)
        merged = merged.mutate(**{column: merged._v.cast(customers[column].type())}).drop(
            "_p", "_v")
    persons = merged.select(*[merged[c].cast(types[c]).name(c) for c in customers.columns])
    return plain.union(persons, distinct=False)


__all__ = ["PERSON_TABLES", "as_persons", "persons_apply"]
