"""Helpers for the identity tests: a store, customers from named sources, persons read back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clientela.config import IdentityConfig
from clientela.identity.resolve import bind_config
from clientela.model.entities import Customer
from clientela.store import Store


def customer(customer_id: str, source: str = "shop", **fields: Any) -> Customer:
    return Customer(source=source, customer_id=customer_id, **fields)


_TEMPLATE: dict[str, bytes] = {}


def open_store(path: Path | str, **config: Any) -> Store:
    """A new store at `path` (a DuckDB file, or a new PostgreSQL database's URL) following
    `[identity]` `config`; a DuckDB schema is built once per test session and copied (a
    migration per hypothesis example would dominate the run)."""
    if isinstance(path, str) and path.startswith("postgresql://"):
        store = Store(path)
        with store.transaction() as con:
            bind_config(con, IdentityConfig(**config))
        return store
    path = Path(path)
    if "empty" not in _TEMPLATE:
        template = path.with_name(f"template-{path.name}")
        Store(template).close()
        _TEMPLATE["empty"] = template.read_bytes()
        template.unlink()
    path.write_bytes(_TEMPLATE["empty"])
    store = Store(path)
    with store.transaction() as con:
        bind_config(con, IdentityConfig(**config))
    return store


def land(store: Store, records: Iterable[Customer]) -> None:
    """Each source's records in one batch, as a sync or an import would."""
    by_source: dict[str, list[Customer]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record)
    for batch in by_source.values():
        store.upsert(batch)


def persons(store: Store) -> set[frozenset[str]]:
    """The persons as sets of customer ids (every customer, the unlinked ones alone)."""
    rows = store.con.execute("""SELECT COALESCE(l.person_id, c.customer_id), c.customer_id
        FROM (SELECT DISTINCT customer_id FROM customers) c
        LEFT JOIN identity_links l USING (customer_id)""").fetchall()
    groups: dict[str, set[str]] = {}
    for person, member in rows:
        groups.setdefault(person, set()).add(member)
    return {frozenset(members) for members in groups.values()}


def person_ids(store: Store) -> dict[str, str]:
    return dict(store.con.execute("""SELECT c.customer_id, COALESCE(l.person_id, c.customer_id)
        FROM (SELECT DISTINCT customer_id FROM customers) c
        LEFT JOIN identity_links l USING (customer_id)""").fetchall())


def merged(store: Store) -> set[frozenset[str]]:
    """Only the persons of two or more records."""
    return {group for group in persons(store) if len(group) > 1}
