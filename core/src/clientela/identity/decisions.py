"""Merges and splits decided by hand, recorded with their reasons and kept by every later
resolution.

- `merge(a, b)`: the persons of records a and b are one person. The rules still run as
  before; the merge joins their results on top.
- `split(x)` undoes: when merges decided by hand involve record x, they are revoked (the
  persons return to what the rules alone make of them, so merge-then-split restores the
  previous state); when none does, record x leaves its person and no rule joins it to anyone
  again (a manual merge still can).

Both resolve again only the records the decision can reach, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from clientela.errors import NotFound
from clientela.identity import IDENTITY_DECISIONS_TABLE, IDENTITY_LINKS_TABLE
from clientela.identity.resolve import Resolution, resolve_customers, stored_config


@dataclass(frozen=True)
class Decision:
    decision_id: str | None
    """None when nothing had to be recorded (already one person, say)."""
    kind: str
    note: str
    resolution: Resolution | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def person_of(con: duckdb.DuckDBPyConnection, customer_id: str) -> str:
    """The person of a customer record; `NotFound` when the store has no such record."""
    if not con.execute("SELECT 1 FROM customers WHERE customer_id = ? LIMIT 1",
                       [customer_id]).fetchone():
        raise NotFound(f"no customer {customer_id!r} in the store")
    row = con.execute(f"SELECT person_id FROM {IDENTITY_LINKS_TABLE} WHERE customer_id = ?",
                      [customer_id]).fetchone()
    return str(row[0]) if row else customer_id


def _check(con: duckdb.DuckDBPyConnection, reason: str) -> str:
    if not stored_config(con).enabled:
        raise ValueError("identity resolution is off ([identity] enabled = false): "
                         "there are no persons to merge or split")
    reason = reason.strip()
    if not reason:
        raise ValueError("--reason: expected a few words saying why (it is kept with the "
                         "decision)")
    return reason


def _record(con: duckdb.DuckDBPyConnection, kind: str, customer_id: str, other: str | None,
            reason: str) -> str:
    decision_id = uuid.uuid4().hex[:12]
    con.execute(f"INSERT INTO {IDENTITY_DECISIONS_TABLE} VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                [decision_id, kind, customer_id, other, reason, _now()])
    return decision_id


def merge(con: duckdb.DuckDBPyConnection, first: str, second: str, reason: str) -> Decision:
    """Records `first` and `second` (and everyone in their persons) are one person."""
    reason = _check(con, reason)
    if person_of(con, first) == person_of(con, second):
        return Decision(None, "merge", f"{first} and {second} are already one person")
    decision_id = _record(con, "merge", first, second, reason)
    resolution = resolve_customers(con, [first, second], cause="merge")
    return Decision(decision_id, "merge", f"merged the persons of {first} and {second}",
                    resolution)


def split(con: duckdb.DuckDBPyConnection, customer_id: str, reason: str) -> Decision:
    """Undo the merges involving `customer_id`, or take it out of its person."""
    reason = _check(con, reason)
    person = person_of(con, customer_id)
    merges = con.execute(f"""SELECT decision_id, customer_id, other_id
        FROM {IDENTITY_DECISIONS_TABLE} WHERE kind = 'merge' AND revoked_at IS NULL
        AND ? IN (customer_id, other_id) ORDER BY decided_at""", [customer_id]).fetchall()
    if merges:
        decision_id = _record(con, "unmerge", customer_id, None, reason)
        con.execute(f"""UPDATE {IDENTITY_DECISIONS_TABLE} SET revoked_at = ?, revoked_by = ?
            WHERE decision_id IN (SELECT unnest(CAST(? AS VARCHAR[])))""",
                    [_now(), decision_id, [m[0] for m in merges]])
        touched = {customer_id, *(m[1] for m in merges), *(m[2] for m in merges)}
        resolution = resolve_customers(con, sorted(touched), cause="split")
        return Decision(decision_id, "unmerge",
                        f"revoked {len(merges)} merge(s) involving {customer_id}", resolution)
    row = con.execute(f"SELECT count(*) FROM {IDENTITY_LINKS_TABLE} WHERE person_id = ?",
                      [person]).fetchone()
    if not row or row[0] < 2:
        raise ValueError(f"{customer_id} is already a person of its own")
    decision_id = _record(con, "split", customer_id, None, reason)
    resolution = resolve_customers(con, [customer_id], cause="split")
    return Decision(decision_id, "split", f"took {customer_id} out of person {person}",
                    resolution)
