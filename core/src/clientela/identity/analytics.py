"""Whether the rest of clientela reads persons, and the SQL that maps a record to its person.

Everything that counts, scores or contacts people (the KPI engine, consent, journeys,
loyalty balances) asks `resolving()` before it maps a `customer_id` to its person through
`identity_links`. The switch is the workspace's `[identity] enabled`: the CLI opens every
store inside `identity_resolution(settings.identity.enabled)`, and a program calling the
library directly may do the same (`with identity_resolution(False): compute(...)`).
It is a context variable rather than a parameter because the same answer must reach code
far apart (a push reads consent, a segmenter reads the KPI context) without every call in
between carrying it; by default it is on, like the setting.

With the switch off, or with no `identity_links` table or an empty one, every helper here
gives back the customer ids untouched, so the results are exactly those of a store without
identity resolution. The SQL helpers are for DuckDB (the store); the KPI engine's
engine-neutral mapping (Ibis) is `clientela.kpi.persons`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from clientela.identity import IDENTITY_LINKS_TABLE, person_id_sql

_RESOLVING: ContextVar[bool] = ContextVar("clientela_identity_resolving", default=True)


def resolving() -> bool:
    """Whether customer records are read as persons here and now (`[identity] enabled`)."""
    return _RESOLVING.get()


@contextmanager
def identity_resolution(enabled: bool) -> Iterator[None]:
    """Read persons (True) or plain customer records (False) inside the block."""
    token = _RESOLVING.set(bool(enabled))
    try:
        yield
    finally:
        _RESOLVING.reset(token)


def _con(store: Any) -> Any:
    return getattr(store, "con", store)


def links_in_use(store: Any) -> bool:
    """True when persons apply: resolution is on and the store holds at least one link."""
    if not resolving():
        return False
    con = _con(store)
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                         [IDENTITY_LINKS_TABLE]).fetchone()
    if not exists or not exists[0]:
        return False
    found = con.execute(f"SELECT EXISTS (SELECT 1 FROM {IDENTITY_LINKS_TABLE})").fetchone()
    return bool(found and found[0])


def person_map_sql(store: Any) -> str:
    """SQL giving `customer_id, person_id` for every customer id the store knows (customers,
    orders, consent events, loyalty events), the person being the id itself when persons do
    not apply (see `links_in_use`). Join it where a query keyed by record needs the person
    of each record (e.g. to give every record of a person her person-level scores)."""
    if not links_in_use(store):
        return ("SELECT customer_id, customer_id AS person_id FROM "
                "(SELECT customer_id FROM customers UNION SELECT customer_id FROM orders "
                "WHERE customer_id IS NOT NULL)")
    return (f"SELECT k.customer_id, {person_id_sql('k.customer_id')} AS person_id FROM "
            "(SELECT customer_id FROM customers UNION SELECT customer_id FROM orders "
            f"WHERE customer_id IS NOT NULL UNION SELECT customer_id FROM {IDENTITY_LINKS_TABLE}"
            f") k LEFT JOIN {IDENTITY_LINKS_TABLE} il ON il.customer_id = k.customer_id")


MEMBERS_SQL = (f"SELECT customer_id, person_id FROM {IDENTITY_LINKS_TABLE} UNION "
               f"SELECT person_id, person_id FROM {IDENTITY_LINKS_TABLE} WHERE person_id NOT IN "
               f"(SELECT customer_id FROM {IDENTITY_LINKS_TABLE}) "
               "AND person_id IN (SELECT customer_id FROM customers)")
"""Every linked person's records: the linked ones, and the person id itself when it names a
customer record without a link row (such a record is its own person, so it is that person)."""


def records_of(store: Any, customer_ids: list[str]) -> dict[str, list[str]]:
    """customer_id -> every customer id of the same person (itself first, then the others
    sorted), for the ids given. Without persons, each id maps to itself alone."""
    wanted = sorted(set(customer_ids))
    if not wanted or not links_in_use(store):
        return {cid: [cid] for cid in wanted}
    rows = _con(store).execute(f"""
        WITH asked AS (SELECT unnest(CAST(? AS VARCHAR[])) AS customer_id),
             mine AS (SELECT a.customer_id, {person_id_sql('a.customer_id')} AS person_id
                      FROM asked a LEFT JOIN {IDENTITY_LINKS_TABLE} il
                      ON il.customer_id = a.customer_id)
        SELECT m.customer_id, p.customer_id FROM mine m
        JOIN ({MEMBERS_SQL}) p ON p.person_id = m.person_id
        ORDER BY 1, 2""", [wanted]).fetchall()
    found: dict[str, list[str]] = {cid: [cid] for cid in wanted}
    for cid, other in rows:
        if str(other) != cid:
            found[cid].append(str(other))
    return found


def person_join(store: Any, alias: str) -> tuple[str, str]:
    """(JOIN clause, SQL of the person) for a table aliased `alias` with a `customer_id`:
    to group a query by person. Without persons: no join, and the customer id itself."""
    if not links_in_use(store):
        return "", f"{alias}.customer_id"
    return (f"LEFT JOIN {IDENTITY_LINKS_TABLE} il ON il.customer_id = {alias}.customer_id",
            person_id_sql(f"{alias}.customer_id"))


def persons_of(store: Any, customer_ids: list[str]) -> dict[str, str]:
    """customer_id -> its person id, for the ids given (each id itself without persons)."""
    wanted = sorted(set(customer_ids))
    if not wanted or not links_in_use(store):
        return {cid: cid for cid in wanted}
    rows = _con(store).execute(
        f"SELECT customer_id, person_id FROM {IDENTITY_LINKS_TABLE} "
        "WHERE customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [wanted]).fetchall()
    found = {cid: cid for cid in wanted}
    found.update({str(cid): str(person) for cid, person in rows})
    return found


__all__ = ["identity_resolution", "links_in_use", "person_join", "person_map_sql",
           "persons_of", "records_of", "resolving"]
