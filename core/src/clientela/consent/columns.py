"""Customer rows that carry consent columns become consent events.

Imports and syncs land customers with `consent_email`, `consent_sms` and
`consent_whatsapp` (subscribed, pending, unsubscribed, unknown). The store
turns each batch into ledger events as it lands it (see `Store.write_parts`),
and the `_consent_ledger` migration does the same once for the rows already
there. `subscribed` is an opt-in and `unsubscribed` an opt-out for the
`marketing` purpose; `pending` and `unknown` say nothing (no consent yet).

A row states a source's view, so it becomes an event only when it changes
something: when that source has never said this for this address, or said
otherwise last time, or when the row is dated (`updated_at`) later than the
newest event and disagrees with it. A new address under an unchanged
`subscribed` is no opt-in for that address: the person starts without
consent there until a source states it anew. A re-sync of an unchanged customer adds
nothing, and a re-import of an old file does not undo a later unsubscribe
made elsewhere.
"""

from __future__ import annotations

from typing import Any

from clientela.consent.ledger import COLUMNS, EVENTS_TABLE, KEY_SQL

EVIDENCE = "{column}={value} on the {source} customer record"


def events_from_rows_sql(rows: str, *, fallback_time: str) -> str:
    """INSERT of the events stated by customer rows in `rows` (a table or view with the
    Customer columns). `fallback_time` is SQL for when a row has no `updated_at`."""
    per_channel = " UNION ALL ".join(
        f"""SELECT customer_id, '{channel}' AS channel, CAST({column} AS VARCHAR) AS value,
                   '{column}' AS column_name, {address} AS address, updated_at, source,
                   {fallback_time} AS fallback_at
            FROM {rows}"""
        for channel, column, address in (
            ("email", "consent_email", "nullif(lower(trim(email)), '')"),
            ("sms", "consent_sms", "nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '')"),
            ("whatsapp", "consent_whatsapp",
             "nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '')"),
        ))
    same_key = ("p.customer_id = s.customer_id AND p.channel = s.channel AND p.purpose = s.purpose "
                "AND p.address IS NOT DISTINCT FROM s.address")
    return f"""
        INSERT OR IGNORE INTO {EVENTS_TABLE} ({", ".join(COLUMNS)})
        WITH stated AS (
            SELECT customer_id, channel, 'marketing' AS purpose,
                   CASE value WHEN 'subscribed' THEN 'opted_in' ELSE 'opted_out' END AS status,
                   address, coalesce(updated_at, fallback_at) AS occurred_at,
                   updated_at IS NOT NULL AS dated, CAST(source AS VARCHAR) AS source,
                   replace(replace(replace('{EVIDENCE}', '{{column}}', column_name),
                                   '{{value}}', value), '{{source}}', source) AS evidence
            FROM ({per_channel})
            WHERE value IN ('subscribed', 'unsubscribed')
            QUALIFY row_number() OVER (PARTITION BY customer_id, channel, source, address
                                       ORDER BY updated_at DESC NULLS LAST) = 1
        ),
        known AS (
            SELECT * FROM {EVENTS_TABLE}
            WHERE customer_id IN (SELECT customer_id FROM stated)
        ),
        said AS (
            SELECT * FROM known
            QUALIFY row_number() OVER (PARTITION BY customer_id, channel, purpose, address, source
                                       ORDER BY occurred_at DESC, recorded_at DESC) = 1
        ),
        newest AS (
            SELECT * FROM known
            QUALIFY row_number() OVER (PARTITION BY customer_id, channel, purpose, address
                                       ORDER BY occurred_at DESC, (status = 'opted_out') DESC,
                                                recorded_at DESC) = 1
        ),
        said_any AS (  -- what this source last stated, address changes aside
            SELECT * FROM known WHERE NOT starts_with(evidence, 'address changed on the ')
            QUALIFY row_number() OVER (PARTITION BY customer_id, channel, purpose, source
                                       ORDER BY occurred_at DESC, recorded_at DESC) = 1
        ),
        fresh AS (
            SELECT s.* FROM stated s
            LEFT JOIN said p ON {same_key} AND p.source = s.source
            LEFT JOIN newest n ON {same_key.replace("p.", "n.")}
            LEFT JOIN said_any a ON a.customer_id = s.customer_id AND a.channel = s.channel
                 AND a.purpose = s.purpose AND a.source = s.source
            WHERE (p.status IS NULL OR p.status <> s.status
                   OR (s.dated AND s.occurred_at > n.occurred_at AND s.status <> n.status))
              -- an address changed under an unchanged "subscribed": no new evidence
              AND NOT coalesce(s.status = 'opted_in' AND a.status = 'opted_in'
                               AND a.address IS DISTINCT FROM s.address, false)
        )
        SELECT {KEY_SQL} AS event_key, customer_id, channel, purpose, status, address,
               occurred_at, source, evidence, now()::TIMESTAMP AS recorded_at
        FROM fresh"""


ADDRESS_CHANGED = "address changed on the {source} customer record: no longer theirs"


def address_changes_sql(rows: str) -> str:
    """INSERT of an opt-out for each old address a customer row replaces (run before the rows
    land): the old address is no longer the person's, and a destination that still holds
    it subscribed is told so on its next push."""
    parts = " UNION ALL ".join(
        f"""SELECT t.customer_id, '{channel}' AS channel, {old} AS address, r.source
            FROM {rows} r JOIN customers t ON t.source = r.source AND t.customer_id = r.customer_id
            WHERE {old} IS NOT NULL AND {old} IS DISTINCT FROM {new}"""
        for channel, old, new in (
            ("email", "nullif(lower(trim(t.email)), '')", "nullif(lower(trim(r.email)), '')"),
            ("sms", _digits("t.phone"), _digits("r.phone")),
            ("whatsapp", _digits("t.phone"), _digits("r.phone")),
        ))
    return f"""
        INSERT OR IGNORE INTO {EVENTS_TABLE} ({", ".join(COLUMNS)})
        WITH changed AS (
            SELECT DISTINCT customer_id, channel, 'marketing' AS purpose, 'opted_out' AS status,
                   address, now()::TIMESTAMP AS occurred_at, CAST(source AS VARCHAR) AS source,
                   replace('{ADDRESS_CHANGED}', '{{source}}', source) AS evidence
            FROM ({parts})
        )
        SELECT {KEY_SQL} AS event_key, customer_id, channel, purpose, status, address,
               occurred_at, source, evidence, now()::TIMESTAMP AS recorded_at
        FROM changed"""


def _digits(column: str) -> str:
    return f"nullif(regexp_replace(coalesce({column}, ''), '[^0-9]', '', 'g'), '')"


def note_address_changes(con: Any, rows: str) -> None:
    """Before customer rows land: opt-outs for the addresses they replace. `con` is the
    store's connection, DuckDB or PostgreSQL (the SQL is translated for the latter)."""
    con.execute(address_changes_sql(rows))


def record_customer_rows(con: Any, rows: str) -> None:
    """Record the events stated by the customer rows in `rows` (a registered relation), on
    the store's connection, DuckDB or PostgreSQL."""
    con.execute(events_from_rows_sql(rows, fallback_time="now()::TIMESTAMP"))
