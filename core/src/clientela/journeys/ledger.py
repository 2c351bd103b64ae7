"""The message ledger: every message is written before the provider is called.

A message moves `planned -> suppressed(reason) | calling -> sent -> delivered
| read | failed(reason)`:

* planning inserts rows by key and ignores keys already there, in one
  transaction, so a re-run plans nothing twice and a crash plans nothing;
* before a batch is handed to the provider its rows become `calling` (one
  statement, committed): a crash after that point leaves them `calling`, and
  the next run asks the provider what it holds for each key (`settle`)
  instead of sending again;
* the provider's answers are recorded per message, so one rejection never
  sends a batch again.

Statuses from webhooks only move a message forward (`read` is never undone
by a late `delivered`), and `failed` is final.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from clientela.channels.sending import STATUS_RANK, ChannelEvent, SendResult
from clientela.store.migrations import (
    CHANNEL_INBOUND_TABLE,
    MESSAGE_EVENTS_TABLE,
    MESSAGES_TABLE,
)

PLANNED, SUPPRESSED, CALLING, SENT = "planned", "suppressed", "calling", "sent"
DELIVERED, READ, FAILED = "delivered", "read", "failed"
SENT_LIKE = (SENT, DELIVERED, READ)

COLUMNS = (
    "message_key", "origin_kind", "origin", "step", "customer_id", "occurrence", "purpose",
    "medium", "channel", "status", "reason", "due_at", "planned_at", "called_at", "sent_at",
    "updated_at", "attempts", "provider_id", "campaign_id", "salesperson_id", "is_control",
    "template", "language", "address", "subject", "body", "variables",
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def naive(moment: datetime) -> datetime:
    """The store keeps UTC timestamps without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass
class Planned:
    """One message as planned: who, what, when, through which channel, or why not."""

    message_key: str
    origin_kind: str
    origin: str
    step: str
    customer_id: str
    occurrence: str
    purpose: str
    due_at: datetime
    status: str = PLANNED
    reason: str | None = None
    medium: str | None = None
    channel: str | None = None
    campaign_id: str | None = None
    salesperson_id: str | None = None
    is_control: bool = False
    template: str | None = None
    language: str | None = None
    address: str | None = None
    subject: str | None = None
    body: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)


_SCHEMA = pa.schema([
    ("message_key", pa.string()), ("origin_kind", pa.string()), ("origin", pa.string()),
    ("step", pa.string()), ("customer_id", pa.string()), ("occurrence", pa.string()),
    ("purpose", pa.string()), ("medium", pa.string()), ("channel", pa.string()),
    ("status", pa.string()), ("reason", pa.string()), ("due_at", pa.timestamp("us")),
    ("planned_at", pa.timestamp("us")), ("campaign_id", pa.string()),
    ("salesperson_id", pa.string()), ("is_control", pa.bool_()), ("template", pa.string()),
    ("language", pa.string()), ("address", pa.string()), ("subject", pa.string()),
    ("body", pa.string()), ("variables", pa.string()),
])


def plan(con: duckdb.DuckDBPyConnection, messages: Sequence[Planned], *,
         now: datetime | None = None) -> int:
    """Insert the messages whose key is new, in one transaction; returns how many were new."""
    if not messages:
        return 0
    stamp = naive(now or utcnow())
    columns: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    for m in messages:
        for name in _SCHEMA.names:
            if name == "planned_at":
                columns[name].append(stamp)
            elif name == "due_at":
                columns[name].append(naive(m.due_at))
            elif name == "variables":
                columns[name].append(json.dumps(m.variables, sort_keys=True, default=str))
            else:
                columns[name].append(getattr(m, name))
    table = pa.table(columns, schema=_SCHEMA)
    names = ", ".join(_SCHEMA.names)
    con.begin()
    try:
        con.register("_journeys_plan", table)
        before = _count(con)
        con.execute(f"""INSERT INTO {MESSAGES_TABLE} ({names}, updated_at, attempts)
                        SELECT DISTINCT ON (message_key) {names}, planned_at, 0
                        FROM _journeys_plan
                        WHERE message_key NOT IN (SELECT message_key FROM {MESSAGES_TABLE})""")
        added = _count(con) - before
        con.unregister("_journeys_plan")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return added


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT count(*) FROM {MESSAGES_TABLE}").fetchone()
    return int(row[0]) if row else 0


def existing_keys(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> set[str]:
    table = pa.table({"k": pa.array(list(keys), pa.string())})
    con.register("_journeys_keys", table)
    try:
        rows = con.execute(f"SELECT message_key FROM {MESSAGES_TABLE} "
                           "WHERE message_key IN (SELECT k FROM _journeys_keys)").fetchall()
    finally:
        con.unregister("_journeys_keys")
    return {str(r[0]) for r in rows}


@dataclass(frozen=True)
class Row:
    """A ledger row as the dispatcher needs it."""

    message_key: str
    customer_id: str
    purpose: str
    medium: str | None
    channel: str | None
    due_at: datetime
    attempts: int
    template: str | None
    language: str | None
    address: str | None
    subject: str | None
    body: str | None
    variables: dict[str, Any]
    origin: str = ""
    called_at: datetime | None = None


_ROW_SQL = ("message_key, customer_id, purpose, medium, channel, due_at, attempts, template, "
            "language, address, subject, body, variables, origin, called_at")


def _rows(result: list[tuple[Any, ...]]) -> list[Row]:
    return [Row(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], r[5], int(r[6]), r[7], r[8], r[9],
                r[10], r[11], json.loads(r[12]) if r[12] else {}, str(r[13]),
                r[14].replace(tzinfo=UTC) if r[14] else None) for r in result]


def due(con: duckdb.DuckDBPyConnection, now: datetime, *, channels: Sequence[str] | None = None,
        limit: int | None = None) -> list[Row]:
    """Planned messages due by `now`, oldest first (then by key, so runs agree on the order)."""
    where = "status = 'planned' AND due_at <= ?"
    params: list[Any] = [naive(now)]
    if channels is not None:
        where += " AND channel IN (SELECT unnest(?))"
        params.append(list(channels))
    sql = f"SELECT {_ROW_SQL} FROM {MESSAGES_TABLE} WHERE {where} ORDER BY due_at, message_key"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return _rows(con.execute(sql, params).fetchall())


def calling(con: duckdb.DuckDBPyConnection, *, channels: Sequence[str] | None = None) -> list[Row]:
    """Messages handed to a provider whose answer was never recorded (a crash in between)."""
    where, params = "status = 'calling'", []
    if channels is not None:
        where += " AND channel IN (SELECT unnest(?))"
        params.append(list(channels))
    return _rows(con.execute(f"SELECT {_ROW_SQL} FROM {MESSAGES_TABLE} WHERE {where} "
                             "ORDER BY message_key", params).fetchall())


def mark_calling(con: duckdb.DuckDBPyConnection, keys: Sequence[str], now: datetime) -> None:
    """Committed before the provider is called: from here on, a crash is settled by lookup.
    `called_at` is the machine's clock, whatever `now` the run acts as of, since it is compared
    with the provider's own timestamps."""
    con.execute(f"""UPDATE {MESSAGES_TABLE} SET status = 'calling', called_at = ?, updated_at = ?,
                    attempts = attempts + 1 WHERE message_key IN (SELECT unnest(?))
                    AND status = 'planned'""", [naive(utcnow()), naive(now), list(keys)])


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str
    """sent, failed, suppressed or planned (back in the queue: retry later, or the provider
    certainly did not get it)."""
    reason: str | None = None
    provider_id: str | None = None
    due_at: datetime | None = None


def from_result(key: str, result: SendResult) -> Outcome:
    if result.outcome == "sent":
        return Outcome(key, SENT, None, result.provider_id)
    if result.outcome == "opted_out":
        return Outcome(key, FAILED, "opted_out", result.provider_id)
    if result.outcome == "retry":
        return Outcome(key, PLANNED, f"retry: {result.code or 'throttled'}")
    return Outcome(key, FAILED, f"{result.code or 'error'}: {result.detail or ''}".strip()[:200],
                   result.provider_id)


def record(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Record the provider's answers for a batch, in one statement."""
    if not outcomes:
        return
    table = pa.table({
        "k": [o.key for o in outcomes], "s": [o.status for o in outcomes],
        "r": [o.reason for o in outcomes], "p": [o.provider_id for o in outcomes],
        "d": pa.array([naive(o.due_at) if o.due_at else None for o in outcomes],
                      pa.timestamp("us")),
    }, schema=pa.schema([("k", pa.string()), ("s", pa.string()), ("r", pa.string()),
                         ("p", pa.string()), ("d", pa.timestamp("us"))]))
    con.register("_journeys_outcomes", table)
    try:
        con.execute(f"""UPDATE {MESSAGES_TABLE} AS m SET status = o.s, reason = o.r,
                        provider_id = coalesce(o.p, m.provider_id), updated_at = ?,
                        due_at = coalesce(o.d, m.due_at),
                        sent_at = CASE WHEN o.s = 'sent' THEN ? ELSE m.sent_at END
                        FROM _journeys_outcomes o WHERE m.message_key = o.k""",
                    [naive(now), naive(now)])
    finally:
        con.unregister("_journeys_outcomes")


def apply_events(con: duckdb.DuckDBPyConnection, channel: str, events: Sequence[ChannelEvent],
                 now: datetime) -> tuple[int, int]:
    """Record delivery statuses (each event once) and move messages forward; returns
    (new events, replays ignored)."""
    new = replays = 0
    for event in events:
        if event.kind != "status" or event.status is None:
            continue
        event_key = f"{channel}:{event.event_id}"
        seen = con.execute(f"SELECT 1 FROM {MESSAGE_EVENTS_TABLE} WHERE event_key = ?",
                           [event_key]).fetchone()
        if seen:
            replays += 1
            continue
        key = event.key
        if key is None and event.provider_id is not None:
            row = con.execute(f"SELECT message_key FROM {MESSAGES_TABLE} WHERE provider_id = ? "
                              "AND channel = ?", [event.provider_id, channel]).fetchone()
            key = str(row[0]) if row else None
        con.execute(f"INSERT INTO {MESSAGE_EVENTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [event_key, channel, key, event.provider_id, event.status, event.reason,
                     naive(event.occurred_at), naive(now)])
        new += 1
        if key is not None:
            _advance(con, key, event, now)
    return new, replays


def _advance(con: duckdb.DuckDBPyConnection, key: str, event: ChannelEvent,
             now: datetime) -> None:
    row = con.execute(f"SELECT status FROM {MESSAGES_TABLE} WHERE message_key = ?",
                      [key]).fetchone()
    if row is None:
        return
    current = str(row[0])
    status = str(event.status)
    if current == FAILED or current in (PLANNED, SUPPRESSED):
        return
    # a message still `calling` is settled by its first status: the provider has it
    if current != CALLING and STATUS_RANK.get(status, 0) <= STATUS_RANK.get(current, 0):
        return
    reason = event.reason if status == FAILED else None
    con.execute(f"""UPDATE {MESSAGES_TABLE} SET status = ?, reason = coalesce(?, reason),
                    provider_id = coalesce(provider_id, ?), updated_at = ?,
                    sent_at = coalesce(sent_at, ?) WHERE message_key = ?""",
                [status, reason, event.provider_id, naive(now), naive(event.occurred_at), key])


def record_inbound(con: duckdb.DuckDBPyConnection, channel: str, medium: str,
                   event: ChannelEvent, customer_id: str | None, address_digest: str,
                   opt_out: bool) -> bool:
    """An inbound reply (opens WhatsApp's 24-hour window); False when it is a replay."""
    event_key = f"{channel}:{event.event_id}"
    seen = con.execute(f"SELECT 1 FROM {CHANNEL_INBOUND_TABLE} WHERE event_key = ?",
                       [event_key]).fetchone()
    if seen:
        return False
    con.execute(f"INSERT INTO {CHANNEL_INBOUND_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [event_key, channel, medium, customer_id, address_digest,
                 naive(event.occurred_at), opt_out])
    return True
