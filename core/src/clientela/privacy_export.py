"""A person's data export: everything the store holds about them, in one JSON file.

Privacy laws give a person the right to a copy of their data; a shop
platform passes such a request on (a webhook) and expects the app to act.
The store is searched generically, so a table a plugin adds is included
too: the person's customer rows (by e-mail, or by customer id), every row
of every table with a `customer_id` column for those ids, the lines of
their orders, and quarantined payloads that mention their address. The
file is named after the address's digest and the time, never the address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clientela.privacy import email_digest
from clientela.store import Store

SKIPPED_TABLES = frozenset({"sync_state", "runs", "_clientela_meta"})


@dataclass(frozen=True)
class PersonExport:
    path: Path
    customers: int
    """How many customer rows matched the person."""
    rows: dict[str, int]
    """table -> rows exported from it."""


def _records(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _columns(con: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main'").fetchall():
        found.setdefault(str(table), set()).add(str(column))
    return found


def export_person(store: Store, folder: Path, *, email: str | None = None,
                  customer_id: str | None = None, source: str | None = None) -> PersonExport:
    """Write `<folder>/export-<digest>-<utc time>.json` and say what it holds. A customer id
    is matched within `source` when one is given (ids are only unique per source)."""
    if email is None and customer_id is None:
        raise ValueError("a data export needs the person's e-mail or customer id")
    con = store.con
    address = email.strip().lower() if email else None
    people = _records(con, "SELECT * FROM customers WHERE lower(email) = ? OR (customer_id = ? "
                      "AND (?::VARCHAR IS NULL OR source = ?)) ORDER BY source, customer_id",
                      [address, customer_id, source, source])
    ids = [str(p["customer_id"]) for p in people] or ([customer_id] if customer_id else [])
    if address is None:
        address = next((str(p["email"]).lower() for p in people if p.get("email")), None)
    tables: dict[str, list[dict[str, Any]]] = {"customers": people}
    order_ids: list[str] = []
    columns = _columns(con)
    for table in sorted(columns):
        if table in SKIPPED_TABLES or table == "customers" or "customer_id" not in columns[table]:
            continue
        found = _records(con, f'SELECT * FROM "{table}" WHERE customer_id IN (SELECT unnest(?))',
                         [ids])
        if found:
            tables[table] = found
        if table == "orders":
            order_ids = [str(row["order_id"]) for row in found]
    for table in sorted(columns):
        if table in tables or table in SKIPPED_TABLES or "order_id" not in columns[table] \
                or "customer_id" in columns[table] or not order_ids:
            continue
        found = _records(con, f'SELECT * FROM "{table}" WHERE order_id IN (SELECT unnest(?))',
                         [order_ids])
        if found:
            tables[table] = found
    if address and "quarantine" in columns:
        held = _records(con, "SELECT source, entity, record_key, reason, payload FROM quarantine "
                        "WHERE contains(lower(payload), ?)", [address])
        if held:
            tables["quarantine"] = held
    now = datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    tag = email_digest(address or ",".join(ids))[:16]
    path = folder / f"export-{tag}-{now:%Y%m%dT%H%M%S%fZ}.json"
    document = {"exported_at": now.isoformat(), "customer_ids": ids, "tables": tables}
    path.write_text(json.dumps(document, indent=2, default=str, sort_keys=True) + "\n",
                    encoding="utf-8")
    return PersonExport(path, len(people), {name: len(rows) for name, rows in tables.items()})
