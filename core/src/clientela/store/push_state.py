"""The push engine's tables, written only through here (`Store.push_state`).

* `push_state`: one row per (destination, segmentation, customer), what that
  destination was last given (hash, segment, address, subscription status, the opt-outs
  beyond marketing handed over);
* `push_log`: the per-contact outcome of every push run;
* `push_consent_reads`: up to when each destination's opt-outs were read;
* `push_opt_outs`: which store opt-outs each destination was handed, per address and target.

The push engine (`clientela.destinations`) decides what to write; this
repository owns how, so the SQL of those tables lives with the store that
defines them (`clientela.store.migrations._consent_ledger`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from clientela.store.migrations import (
    PUSH_LOG_TABLE,
    PUSH_OPT_OUTS_TABLE,
    PUSH_READS_TABLE,
    PUSH_STATE_TABLE,
)


class SentRow(NamedTuple):
    """What a destination now holds of a contact (one `push_state` row)."""

    destination: str
    segmentation: str
    customer_id: str
    email: str | None
    segment: str | None
    hash: str
    sent_at: datetime
    run_id: str
    status: str
    opt_outs: str | None = None
    """The opt-outs beyond marketing handed over with the contact, comma-separated
    (`relationship`); None for none."""


class LogRow(NamedTuple):
    """One contact's outcome in one run (one `push_log` row)."""

    run_id: str
    destination: str
    segmentation: str
    customer_id: str
    action: str
    outcome: str
    segment: str | None
    previous_segment: str | None
    error: str | None
    logged_at: datetime


class HandedRow(NamedTuple):
    """One opt-out a destination was handed for one address and target (`push_opt_outs`)."""

    destination: str
    email: str
    target: str
    customer_id: str
    purpose: str
    handed_at: datetime
    run_id: str | None


class PushState:
    """The push tables of one store connection (see the module docstring)."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def commit_batch(self, destination: str, segmentation: str, *, sent: Sequence[SentRow],
                     deleted: Sequence[str], old_addresses: Sequence[tuple[str, str]],
                     log: Sequence[LogRow]) -> None:
        """One reported batch in one transaction: contacts no longer held (`deleted`), a
        customer's former address once unsubscribed (`old_addresses`: (customer_id, email),
        dropped unless the new address has landed meanwhile), what is now held (`sent`)
        and the batch's log rows."""
        con = self.con
        con.begin()
        try:
            if deleted:
                con.execute(f"DELETE FROM {PUSH_STATE_TABLE} WHERE destination = ? AND "
                            "segmentation = ? AND customer_id IN (SELECT unnest(?))",
                            [destination, segmentation, list(deleted)])
            for customer_id, email in old_addresses:
                con.execute(f"DELETE FROM {PUSH_STATE_TABLE} WHERE destination = ? AND "
                            "segmentation = ? AND customer_id = ? AND email = ?",
                            [destination, segmentation, customer_id, email])
            if sent:
                _insert(con, PUSH_STATE_TABLE, sent, SentRow._fields,
                        conflict=("destination", "segmentation", "customer_id"))
            if log:
                _insert(con, PUSH_LOG_TABLE, log, LogRow._fields)
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def log(self, rows: Sequence[LogRow]) -> None:
        """Log rows on their own (contacts skipped for lack of consent)."""
        if rows:
            _insert(self.con, PUSH_LOG_TABLE, rows, LogRow._fields)

    def forget_sent(self, destination: str, segmentation: str,
                    customer_ids: Sequence[str]) -> None:
        """The destination no longer holds these contacts (deleted or archived there)."""
        if customer_ids:
            self.con.execute(f"DELETE FROM {PUSH_STATE_TABLE} WHERE destination = ? AND "
                             "segmentation = ? AND customer_id IN (SELECT unnest(?))",
                             [destination, segmentation, list(customer_ids)])

    def forget_customers(self, customer_ids: Sequence[str]) -> None:
        """Drop these people's state at every destination (their log rows keep only the
        customer id); inside the caller's transaction."""
        if customer_ids:
            for table in (PUSH_STATE_TABLE, PUSH_OPT_OUTS_TABLE):
                self.con.execute(f"DELETE FROM {table} WHERE customer_id IN "
                                 "(SELECT unnest(?))", [list(customer_ids)])

    def sent(self, destination: str, segmentation: str) -> list[tuple[str, str, str | None]]:
        """(customer_id, email, segment) of what this destination holds for a segmentation."""
        rows = self.con.execute(f"SELECT customer_id, email, segment FROM {PUSH_STATE_TABLE} "
                                "WHERE destination = ? AND segmentation = ? ORDER BY customer_id",
                                [destination, segmentation]).fetchall()
        return [(str(r[0]), str(r[1]), r[2]) for r in rows]

    def holders(self, email: str) -> list[str]:
        """Destinations that were sent this address."""
        rows = self.con.execute(f"SELECT DISTINCT destination FROM {PUSH_STATE_TABLE} "
                                "WHERE email = ? ORDER BY 1", [email]).fetchall()
        return [str(row[0]) for row in rows]

    def customers_sent(self, email: str) -> list[str]:
        """Customer ids this address was sent as, at any destination."""
        rows = self.con.execute(f"SELECT DISTINCT customer_id FROM {PUSH_STATE_TABLE} "
                                "WHERE email = ? ORDER BY 1", [email]).fetchall()
        return [str(row[0]) for row in rows]

    def handed(self, destination: str) -> set[tuple[str, str]]:
        """(address, target) of every opt-out this destination was handed."""
        rows = self.con.execute(f"SELECT email, target FROM {PUSH_OPT_OUTS_TABLE} "
                                "WHERE destination = ?", [destination]).fetchall()
        return {(str(r[0]), str(r[1])) for r in rows}

    def hand(self, rows: Sequence[HandedRow]) -> None:
        """Remember opt-outs handed over (written there, or found needing nothing)."""
        if rows:
            _insert(self.con, PUSH_OPT_OUTS_TABLE, rows, HandedRow._fields,
                    conflict=("destination", "email", "target"))

    def last_read(self, destination: str) -> datetime | None:
        """Up to when this destination's opt-outs were last read (None: never)."""
        row = self.con.execute(f"SELECT read_until FROM {PUSH_READS_TABLE} WHERE "
                               "destination = ?", [destination]).fetchone()
        return row[0] if row else None

    def mark_read(self, destination: str, until: datetime, run_id: str | None) -> None:
        self.con.execute(
            f"""INSERT INTO {PUSH_READS_TABLE} (destination, read_until, run_id) VALUES (?, ?, ?)
                ON CONFLICT (destination) DO UPDATE SET read_until = EXCLUDED.read_until,
                run_id = EXCLUDED.run_id""", [destination, until, run_id])


def _insert(con: Any, table: str, rows: Sequence[tuple[Any, ...]], names: Sequence[str], *,
            conflict: Sequence[str] = ()) -> None:
    """Bulk insert through Arrow (executemany row by row is ~100x slower at 100k rows);
    with `conflict` (the primary key), a row already there is replaced."""
    data = pa.table({name: pa.array([row[i] for row in rows],
                                    pa.timestamp("us") if name in ("sent_at", "logged_at", "handed_at")
                                    else pa.string())
                     for i, name in enumerate(names)})
    columns = ", ".join(names)
    sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _push_rows"
    if conflict:
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in conflict)
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    con.register("_push_rows", data)
    try:
        con.execute(sql)
    finally:
        con.unregister("_push_rows")
