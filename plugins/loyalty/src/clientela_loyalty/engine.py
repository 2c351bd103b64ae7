"""`run`: bring the store's ledger up to an instant, incrementally.

A run replays only the customers whose ledger can have changed since the last
run: those with an order loaded since (new, refunded, cancelled), an order or
adjustment taking effect in the new window, or a lot expiring in it. Each of
them is replayed from the start of their history (a customer's history is
short; replaying it whole is what makes a late-arriving refund or a
restated order land exactly where a rebuild would put it), their rows are
upserted by key, and rows the replay no longer produces are deleted. A
change of rules or time zone, a tier review in the window, or an `until`
before the last one replays everyone.

The cursor (the last `until`, the load watermarks, the rules' fingerprint)
lives in `sync_state` under source `loyalty`, committed with the rows it
covers, so a run killed halfway leaves the old cursor, and the next run
covers the same customers again. The fingerprint includes the scheme of the
event ids (`ids.ID_SCHEME`): a ledger written with older ids is replayed
whole once, which rewrites its rows under the new ids and deletes the old.

With persons (`clientela.identity`), a person's orders and adjustments on all
her records replay as one wallet (points earned online pay a redemption at the
till), and each row is written under the record it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from clientela.identity.analytics import links_in_use, person_join, persons_of, records_of
from clientela.model.entities import LoyaltyEvent
from clientela.store import Store
from clientela_loyalty.calendar import US_PER_DAY, from_micros, review_instants, to_micros
from clientela_loyalty.history import ENGINE_SOURCE, read_adjustments, read_orders
from clientela_loyalty.ids import ID_SCHEME, ORDER_KEY_SQL
from clientela_loyalty.ledger import KIND_NAMES, compute_ledger
from clientela_loyalty.rules import LoyaltyRules

CURSOR_STREAM = "engine"


class LedgerConflict(ValueError):
    """The store already holds a ledger imported from elsewhere: running would count twice."""


@dataclass
class RunSummary:
    until: datetime
    since: datetime | None
    """The previous run's `until` (None: the whole history was replayed)."""
    rebuilt: bool
    customers_replayed: int
    points: dict[str, int] = field(default_factory=dict)
    """What the run changed, in points by kind (earn, redeem, expire, reverse: the change of
    each kind's total, so a restated history counts too; adjust: the adjustments written
    since the last run)."""
    members: int = 0
    """Customers holding points at `until`."""
    outstanding_points: int = 0
    liability: Decimal = Decimal(0)
    """Outstanding points times the point value, in the reporting currency."""
    capped_redemptions: int = 0
    written: dict[str, int] = field(default_factory=dict)
    """Rows inserted, updated, unchanged and deleted."""


def _imported_sources(store: Store) -> list[str]:
    rows = store.con.execute(
        "SELECT DISTINCT source FROM loyalty_events WHERE source <> ? ORDER BY 1",
        [ENGINE_SOURCE]).fetchall()
    return [str(row[0]) for row in rows]


def _watermark(store: Store, sql: str) -> str | None:
    row = store.con.execute(sql, [ENGINE_SOURCE] if "?" in sql else []).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _affected(store: Store, rules: LoyaltyRules, cursor: dict[str, Any],
              until_us: int) -> pa.Array:
    since_us = int(cursor["until_us"])
    lock_us = rules.lock_days * US_PER_DAY
    orders_mark = cursor.get("orders_loaded_at") or "-infinity"
    adjust_mark = cursor.get("adjust_loaded_at") or "-infinity"
    table = store.con.execute(f"""
        SELECT customer_id FROM orders
        WHERE customer_id IS NOT NULL AND (
            _loaded_at > CAST(? AS TIMESTAMP)
            OR epoch_us(placed_at) + {lock_us} BETWEEN ? AND ? - 1
            OR epoch_us(placed_at) BETWEEN ? AND ? - 1
            OR ((refunded_amount > 0 OR status = 'cancelled')
                AND epoch_us(updated_at) BETWEEN ? AND ? - 1))
        UNION
        SELECT customer_id FROM loyalty_events
        WHERE source = ? AND (
            (kind = 'adjust' AND (_loaded_at > CAST(? AS TIMESTAMP)
                                  OR epoch_us(occurred_at) BETWEEN ? AND ? - 1))
            OR (points > 0 AND epoch_us(expires_at) BETWEEN ? AND ? - 1))
        ORDER BY 1""",
        [orders_mark, since_us, until_us, since_us, until_us, since_us, until_us,
         ENGINE_SOURCE, adjust_mark, since_us, until_us, since_us, until_us],
    ).fetch_arrow_table()
    return table.column("customer_id").combine_chunks()


def run(store: Store, rules: LoyaltyRules, *, until: datetime, timezone: str,
        rebuild: bool = False) -> RunSummary:
    """Write the ledger up to `until` (exclusive) and return what the run did."""
    imported = _imported_sources(store)
    if imported:
        raise LedgerConflict(
            f"the store holds loyalty events imported from {', '.join(imported)}; the engine "
            "would count those points twice (a store that imports its ledger does not need it)")
    until_us = to_micros(until)
    cursor = store.get_state(ENGINE_SOURCE, CURSOR_STREAM)
    # the id scheme is part of what the rows were computed under: a ledger written with
    # other ids (an older version's `earn:{order_id}`) is replayed whole once, rewriting
    # every row under its new id and deleting the old ones (`_delete_stale`)
    fingerprint = f"{rules.fingerprint()}:{timezone}:ids{ID_SCHEME}"
    orders_mark = _watermark(store, "SELECT max(_loaded_at) FROM orders")
    adjust_mark = _watermark(
        store, "SELECT max(_loaded_at) FROM loyalty_events WHERE source = ? AND kind = 'adjust'")
    whole = (rebuild or not cursor or cursor.get("rules") != fingerprint
             or int(cursor["until_us"]) > until_us
             or (bool(rules.tiers) and len(review_instants(
                 int(cursor["until_us"]) - 1, until_us - 1, rules.tier_review_months,
                 timezone)) > 0))
    by_person = links_in_use(store)
    customers = None if whole else _affected(store, rules, cursor, until_us)
    if customers is not None and by_person:  # a person replays with all her records
        records = records_of(store, customers.to_pylist())
        customers = pa.array(sorted({r for rs in records.values() for r in rs}), pa.string())
    since_us = None if whole else int(cursor["until_us"])

    before = _kind_totals(store, customers)
    orders = read_orders(store.con, rules, until_us, customers, by_person=by_person)
    adjustments = read_adjustments(store.con, until_us, customers, by_person=by_person)
    ledger = compute_ledger(orders, adjustments, rules, timezone, until_us)
    table = _to_records(store, ledger.table, customers) if by_person else ledger.table

    new_cursor = {"until_us": until_us, "rules": fingerprint,
                  "orders_loaded_at": orders_mark, "adjust_loaded_at": adjust_mark}
    state = (ENGINE_SOURCE, CURSOR_STREAM, new_cursor)
    if whole and not _holds_computed_rows(store):
        # a first build: every row is new, so no stale rows, no comparison, one bulk insert
        deleted = 0
        counts = store.insert_new(LoyaltyEvent, table, state=state)
    else:
        deleted = _delete_stale(store, table,
                                None if customers is None else customers.to_pylist())
        changed = _changed(store, table)
        counts = store.write_batch(LoyaltyEvent, changed, source=ENGINE_SOURCE,
                                   state=state).counts
        counts.unchanged += table.num_rows - changed.num_rows
    summary = RunSummary(
        until=until, since=None if since_us is None else from_micros(since_us), rebuilt=whole,
        customers_replayed=ledger.customers, capped_redemptions=ledger.capped,
        written={"inserted": counts.inserted, "updated": counts.updated,
                 "unchanged": counts.unchanged, "deleted": deleted})
    after = _kind_totals(store, customers)
    summary.points = {kind: after.get(kind, 0) - before.get(kind, 0)
                      for kind in ("earn", "redeem", "expire", "reverse")}
    row = store.con.execute(
        "SELECT coalesce(sum(points), 0) FROM loyalty_events WHERE source = ? AND kind = 'adjust'"
        " AND _loaded_at > CAST(? AS TIMESTAMP)",
        [ENGINE_SOURCE, cursor.get("adjust_loaded_at") or "-infinity"]).fetchone()
    summary.points["adjust"] = int(row[0]) if row else 0
    _holdings(store, rules, summary, until_us)
    return summary


def _to_records(store: Store, table: pa.Table, customers: pa.Array | None) -> pa.Table:
    """A ledger replayed per person, each row given back to the record it belongs to: the
    record of its order (earn, redeem, reverse, and the expiry of an order's lot) or of its
    adjustment (the expiry of an adjustment's lot), found by the key in the row's id: an
    order's is its source and id, since two sources' orders "1001" may be two records'.
    The ledger stays keyed by record, so a merge or a split of persons changes which
    wallet a row was counted in, not the row."""
    scope = ("" if customers is None
             else " AND customer_id IN (SELECT unnest(CAST($records AS VARCHAR[])))")
    params = {} if customers is None else {"records": customers.to_pylist()}
    owners: dict[tuple[str, str], str] = {}
    for sql in (f"SELECT customer_id, {ORDER_KEY_SQL} FROM orders"
                f" WHERE customer_id IS NOT NULL{scope}",
                f"SELECT customer_id, event_id FROM loyalty_events WHERE source = '{ENGINE_SOURCE}'"
                f" AND kind = 'adjust'{scope}"):
        rows = store.con.execute(sql, params).fetchall()
        persons = persons_of(store, sorted({str(r[0]) for r in rows}))
        for record, key in rows:
            owners.setdefault((persons[str(record)], str(key)), str(record))
    people = table.column("customer_id").to_pylist()
    # an id is `kind:key`, the key an order's (`ids.order_key`) or an adjustment's event id
    keys = [event.split(":", 1)[1] for event in table.column("event_id").to_pylist()]
    records = [owners.get((person, key), person) for person, key in zip(people, keys, strict=True)]
    at = table.column_names.index("customer_id")
    return table.set_column(at, "customer_id", pa.array(records, pa.string()))


def _holds_computed_rows(store: Store) -> bool:
    """Whether the ledger holds any row the engine computes (adjustments are inputs)."""
    return store.con.execute(
        "SELECT EXISTS (SELECT 1 FROM loyalty_events WHERE source = ? AND kind <> 'adjust')",
        [ENGINE_SOURCE]).fetchone() == (True,)


def _changed(store: Store, table: pa.Table) -> pa.Table:
    """The rows the store does not hold as they are: a replayed customer's history is mostly
    what the last run wrote, and the upsert need not see it again."""
    columns = [name for name in table.column_names if name not in ("source", "event_id")]
    differs = " OR ".join(f"t.{c} IS DISTINCT FROM n.{c}" for c in columns)
    store.con.register("_computed", table)
    try:
        return store.con.execute(f"""
            SELECT n.* FROM _computed n LEFT JOIN loyalty_events t
                ON t.source = n.source AND t.event_id = n.event_id
            WHERE t.event_id IS NULL OR {differs}""").to_arrow_table()
    finally:
        store.con.unregister("_computed")


def _delete_stale(store: Store, table: pa.Table, customers: list[str] | None) -> int:
    """Delete the engine's rows (never a person's adjustment) of the replayed customers
    that the replay no longer produces (an earn of an order cancelled before unlocking)."""
    keep = pa.table({"event_id": table.column("event_id")})
    scope = "TRUE" if customers is None else "customer_id IN (SELECT customer_id FROM _scope)"
    store.con.register("_keep", keep)
    if customers is not None:
        store.con.register("_scope", pa.table({"customer_id": pa.array(customers, pa.string())}))
    try:
        with store.transaction() as con:
            row = con.execute(f"""
                DELETE FROM loyalty_events
                WHERE source = ? AND kind <> 'adjust' AND {scope}
                      AND event_id NOT IN (SELECT event_id FROM _keep)
                RETURNING 1""", [ENGINE_SOURCE]).fetchall()
    finally:
        store.con.unregister("_keep")
        if customers is not None:
            store.con.unregister("_scope")
    return len(row)


def _kind_totals(store: Store, customers: pa.Array | None) -> dict[str, int]:
    """Points of every kind in the ledger, as magnitudes: of the replayed `customers`
    only when given (a run changes no one else's rows, so their change is the run's)."""
    if customers is None:
        rows = store.con.execute(
            "SELECT kind, CAST(abs(sum(points)) AS BIGINT) FROM loyalty_events GROUP BY kind"
        ).fetchall()
        return {str(kind): int(points) for kind, points in rows}
    store.con.register("_totals_scope", pa.table({"customer_id": customers}))
    try:
        rows = store.con.execute(
            "SELECT kind, CAST(abs(sum(points)) AS BIGINT) FROM loyalty_events "
            "WHERE customer_id IN (SELECT customer_id FROM _totals_scope) GROUP BY kind"
        ).fetchall()
    finally:
        store.con.unregister("_totals_scope")
    return {str(kind): int(points) for kind, points in rows}


def _holdings(store: Store, rules: LoyaltyRules, summary: RunSummary, until_us: int) -> None:
    join, person = person_join(store, "e")  # members are persons
    row = store.con.execute(f"""
        SELECT count(*), coalesce(CAST(sum(balance) AS BIGINT), 0) FROM (
            SELECT sum(e.points) AS balance FROM loyalty_events e {join}
            WHERE epoch_us(e.occurred_at) < ? GROUP BY {person}) WHERE balance > 0""",
        [until_us]).fetchone()
    assert row is not None
    summary.members, summary.outstanding_points = int(row[0]), int(row[1])
    summary.liability = (rules.point_value * summary.outstanding_points).quantize(Decimal("0.01"))


__all__ = ["KIND_NAMES", "LedgerConflict", "RunSummary", "run"]
