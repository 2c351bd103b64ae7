"""The store's schema, versioned so an older file is brought up to date on open.

A migration is a list of statements run in one transaction with the version
bump, so a crash mid-migration leaves the file at the old version, intact.
Append new versions; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from clientela.model.entities import ENTITIES
from clientela.store.columns import create_table_sql

META_TABLE = "_clientela_meta"
QUARANTINE_TABLE = "quarantine"
SYNC_STATE_TABLE = "sync_state"
RUNS_TABLE = "runs"


def _v1() -> list[str]:
    return [
        *(create_table_sql(model) for model in ENTITIES),
        f"""CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
            source VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            record_key VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            payload VARCHAR NOT NULL,
            payload_hash VARCHAR NOT NULL,
            run_id VARCHAR,
            first_seen_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            PRIMARY KEY (source, entity, payload_hash))""",
        f"""CREATE TABLE IF NOT EXISTS {SYNC_STATE_TABLE} (
            source VARCHAR NOT NULL,
            stream VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (source, stream))""",
        f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            stats VARCHAR,
            message VARCHAR)""",
    ]


MESSAGES_TABLE = "messages"
MESSAGE_EVENTS_TABLE = "message_events"
CHANNEL_INBOUND_TABLE = "channel_inbound"
MESSAGE_FORGOTTEN_TABLE = "message_forgotten"
FOLLOW_UP_TASKS_TABLE = "follow_up_tasks"


def _message_ledger() -> list[str]:
    """The message ledger of `clientela.journeys`: one row per message key (planned before the
    provider is called), the provider's status events, inbound replies, erased people and the
    salespeople's follow-up tasks. `address`, `subject`, `body` and `variables` are the only
    personal columns; `forget` blanks them."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {MESSAGES_TABLE} (
            message_key VARCHAR PRIMARY KEY,
            origin_kind VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            step VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            occurrence VARCHAR NOT NULL,
            purpose VARCHAR NOT NULL,
            medium VARCHAR,
            channel VARCHAR,
            status VARCHAR NOT NULL,
            reason VARCHAR,
            due_at TIMESTAMP NOT NULL,
            planned_at TIMESTAMP NOT NULL,
            called_at TIMESTAMP,
            sent_at TIMESTAMP,
            updated_at TIMESTAMP NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            provider_id VARCHAR,
            campaign_id VARCHAR,
            salesperson_id VARCHAR,
            is_control BOOLEAN NOT NULL DEFAULT false,
            template VARCHAR,
            language VARCHAR,
            address VARCHAR,
            subject VARCHAR,
            body VARCHAR,
            variables VARCHAR)""",
        f"CREATE INDEX IF NOT EXISTS messages_customer ON {MESSAGES_TABLE} (customer_id)",
        f"CREATE INDEX IF NOT EXISTS messages_provider ON {MESSAGES_TABLE} (provider_id)",
        f"""CREATE TABLE IF NOT EXISTS {MESSAGE_EVENTS_TABLE} (
            event_key VARCHAR PRIMARY KEY,
            channel VARCHAR NOT NULL,
            message_key VARCHAR,
            provider_id VARCHAR,
            status VARCHAR NOT NULL,
            reason VARCHAR,
            occurred_at TIMESTAMP NOT NULL,
            received_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {CHANNEL_INBOUND_TABLE} (
            event_key VARCHAR PRIMARY KEY,
            channel VARCHAR NOT NULL,
            medium VARCHAR NOT NULL,
            customer_id VARCHAR,
            address_digest VARCHAR NOT NULL,
            received_at TIMESTAMP NOT NULL,
            opt_out BOOLEAN NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {MESSAGE_FORGOTTEN_TABLE} (
            customer_id VARCHAR PRIMARY KEY,
            forgotten_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {FOLLOW_UP_TASKS_TABLE} (
            task_id VARCHAR PRIMARY KEY,
            journey VARCHAR NOT NULL,
            salesperson_id VARCHAR,
            customer_id VARCHAR NOT NULL,
            order_id VARCHAR,
            due_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,
            outcome VARCHAR,
            message_key VARCHAR,
            created_at TIMESTAMP NOT NULL,
            closed_at TIMESTAMP)""",
    ]


CONSENT_EVENTS_TABLE = "consent_events"
PUSH_STATE_TABLE = "push_state"
PUSH_LOG_TABLE = "push_log"
PUSH_READS_TABLE = "push_consent_reads"
PUSH_OPT_OUTS_TABLE = "push_opt_outs"
FORGET_OUTCOMES_TABLE = "forget_outcomes"


def _consent_ledger() -> list[str]:
    """The consent ledger (backfilled from the customers' consent columns) and the tables
    the push engine and `forget` used to create on first use, plus what a push now keeps:
    the status each destination was last given, and when its consent was last read."""
    from clientela.consent.columns import events_from_rows_sql
    from clientela.privacy import FORGET_REQUESTS_TABLE

    return [
        f"""CREATE TABLE IF NOT EXISTS {CONSENT_EVENTS_TABLE} (
            event_key VARCHAR PRIMARY KEY,
            customer_id VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            purpose VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            address VARCHAR,
            occurred_at TIMESTAMP NOT NULL,
            source VARCHAR NOT NULL,
            evidence VARCHAR NOT NULL,
            recorded_at TIMESTAMP NOT NULL)""",
        events_from_rows_sql("customers", fallback_time="_loaded_at"),
        f"""CREATE TABLE IF NOT EXISTS {PUSH_STATE_TABLE} (
            destination VARCHAR NOT NULL,
            segmentation VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            email VARCHAR,
            segment VARCHAR,
            hash VARCHAR NOT NULL,
            sent_at TIMESTAMP NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (destination, segmentation, customer_id))""",
        f"ALTER TABLE {PUSH_STATE_TABLE} ADD COLUMN IF NOT EXISTS status VARCHAR",
        f"""CREATE TABLE IF NOT EXISTS {PUSH_LOG_TABLE} (
            run_id VARCHAR NOT NULL,
            destination VARCHAR NOT NULL,
            segmentation VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            segment VARCHAR,
            previous_segment VARCHAR,
            error VARCHAR,
            logged_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {PUSH_READS_TABLE} (
            destination VARCHAR PRIMARY KEY,
            read_until TIMESTAMP NOT NULL,
            run_id VARCHAR)""",
        f"""CREATE TABLE IF NOT EXISTS {FORGET_REQUESTS_TABLE} (
            request_id VARCHAR PRIMARY KEY,
            email_digest VARCHAR NOT NULL,
            email VARCHAR,
            requested_at TIMESTAMP NOT NULL,
            completed_at TIMESTAMP,
            status VARCHAR NOT NULL,
            customers INTEGER NOT NULL DEFAULT 0)""",
        f"""CREATE TABLE IF NOT EXISTS {FORGET_OUTCOMES_TABLE} (
            request_id VARCHAR NOT NULL,
            destination VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            detail VARCHAR,
            recorded_at TIMESTAMP NOT NULL)""",
    ]


def _import_quarantine_lifecycle() -> list[str]:
    """A quarantined record is resolved when the same source later lands its key."""
    return [f"ALTER TABLE {QUARANTINE_TABLE} ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMP"]


def _identity_graph() -> list[str]:
    """Which person each customer record belongs to (`clientela.identity`); a customer with no
    row is its own person."""
    from clientela.identity import IDENTITY_LINKS_TABLE

    return [
        "ALTER TABLE customers ADD COLUMN IF NOT EXISTS cpf VARCHAR",
        f"""CREATE TABLE IF NOT EXISTS {IDENTITY_LINKS_TABLE} (
            customer_id VARCHAR PRIMARY KEY,
            person_id VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            linked_at TIMESTAMP NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS identity_links_person ON {IDENTITY_LINKS_TABLE} (person_id)",
    ]


def _identity_resolution() -> list[str]:
    """What resolving customers into persons keeps beside `identity_links`: each customer's
    match keys (digests, never the addresses), the conflicts held back for a person to decide,
    and the merges and splits decided by hand (`clientela.identity`)."""
    from clientela.identity import (
        IDENTITY_CONFLICTS_TABLE,
        IDENTITY_DECISIONS_TABLE,
        IDENTITY_KEYS_TABLE,
        IDENTITY_STATE_TABLE,
    )

    return [
        f"""CREATE TABLE IF NOT EXISTS {IDENTITY_STATE_TABLE} (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {IDENTITY_KEYS_TABLE} (
            customer_id VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            value VARCHAR NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {IDENTITY_CONFLICTS_TABLE} (
            conflict_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            key_digest VARCHAR NOT NULL,
            key_shown VARCHAR,
            customer_ids VARCHAR[] NOT NULL,
            persons INTEGER NOT NULL,
            cpfs INTEGER NOT NULL,
            detected_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {IDENTITY_DECISIONS_TABLE} (
            decision_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            other_id VARCHAR,
            reason VARCHAR NOT NULL,
            decided_at TIMESTAMP NOT NULL,
            revoked_at TIMESTAMP,
            revoked_by VARCHAR)""",
    ]


def _warm_results() -> list[str]:
    """The KPI results kept between calls and the log of what each write touched
    (`clientela.store.touched`, `clientela.kpi.warm`): a cached period is reused until a
    write touches what it read."""
    from clientela.store.touched import warm_tables_sql

    return warm_tables_sql()


def _carried_customer_state() -> list[str]:
    """Each customer's history as of the newest period a warm KPI call computed, kept so the
    next one reads it plus the new orders instead of every order (`clientela.kpi.carried`)."""
    from clientela.store.touched import carried_tables_sql

    return carried_tables_sql()


def _warm_campaign_touches() -> list[str]:
    """Which campaigns each write of touches changed, and the attribution window of a kept
    campaign answer, so a warm KPI call recomputes only the periods of the campaigns a write
    reached (`clientela.store.touched`, `clientela.kpi.warm`)."""
    from clientela.store.touched import campaign_touches_sql

    return campaign_touches_sql()


def _carried_return_gaps() -> list[str]:
    """The gaps between consecutive orders closed before a carried customer state, counted
    by length, so a warm KPI call's return probability reads them instead of every order
    (`clientela.kpi.carried`)."""
    from clientela.store.touched import carried_gaps_sql

    return carried_gaps_sql()


def _loyalty_order_source() -> list[str]:
    """A loyalty event names its order by (order_source, order_id); older stores get the
    column, empty (an event's own source)."""
    return ["ALTER TABLE loyalty_events ADD COLUMN IF NOT EXISTS order_source VARCHAR"]


def _push_state_opt_outs() -> list[str]:
    """The e-mail opt-outs beyond marketing (`relationship`) a destination was handed with a
    contact, so one it can write (a CRM's subscription types) is written once, not again on
    every later change of that contact (`clientela.destinations.state`)."""
    return [f"ALTER TABLE {PUSH_STATE_TABLE} ADD COLUMN IF NOT EXISTS opt_outs VARCHAR"]


def _carried_clv() -> list[str]:
    """The CLV purchase days each carried customer state keeps, and the CLV fits kept as the
    next warm call's starting points, so a warm KPI call's predicted CLV reads the orders
    since the state instead of every order (`clientela.clv.engine.carried`)."""
    from clientela.store.touched import carried_clv_sql

    return carried_clv_sql()


def _carried_loyalty_ledger() -> list[str]:
    """Each customer's loyalty events before a carried customer state, summed up, so a warm
    KPI call's balances and points expiring read them instead of every event
    (`clientela.kpi.carried_ledger`)."""
    from clientela.store.touched import carried_ledger_sql

    return carried_ledger_sql()


def _kept_campaign_credits() -> list[str]:
    """Campaign ROI's credited revenue per day and campaign, kept so that a warm KPI call
    credits afresh only the days a write changed (`clientela.kpi.campaign_credits`)."""
    from clientela.store.touched import campaign_credits_sql

    return campaign_credits_sql()


def _push_opt_outs() -> list[str]:
    """Which store opt-outs each destination has been handed, per address and target (a
    CRM's subscription type), whatever segmentation sent the address: each is written once,
    to contacts outside the pushed segmentation too, and a target mapped later is written
    for the opt-outs made before it (`clientela.destinations.opt_outs`)."""
    return [f"""CREATE TABLE IF NOT EXISTS {PUSH_OPT_OUTS_TABLE} (
            destination VARCHAR NOT NULL,
            email VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            purpose VARCHAR NOT NULL,
            handed_at TIMESTAMP NOT NULL,
            run_id VARCHAR,
            PRIMARY KEY (destination, email, target))"""]


def _kept_fits_by_series_start() -> list[str]:
    """The CLV fits kept as warm starts, keyed by the series' start and grain and trimmed to
    what a later warm call can read (`clientela.clv.engine.carried`)."""
    from clientela.store.touched import kept_fits_sql

    return kept_fits_sql()


def _carried_redeem_links() -> list[str]:
    """The redeem events and the orders they name across a carried customer state's
    instant, so a warm KPI call's redemption metrics read the records since the state
    instead of every redeeming order (`clientela.kpi.carried_redemptions`)."""
    from clientela.store.touched import carried_redeem_links_sql

    return carried_redeem_links_sql()


def _warm_reads_campaigns() -> list[str]:
    """Whether each kept KPI answer read campaign rows, so a new or changed campaign drops
    only those (campaign ROI, relationship activity) instead of every kept answer
    (`clientela.kpi.warm`)."""
    from clientela.store.touched import reads_campaigns_sql

    return reads_campaigns_sql()


def _warm_results_last_used() -> list[str]:
    """Which warm KPI call last used each kept answer, so that `kpi_results` is bounded: the
    series starts used last are kept, the others dropped (`clientela.kpi.warm`)."""
    from clientela.store.touched import results_last_used_sql

    return results_last_used_sql()


def _carried_earn_links() -> list[str]:
    """The orders since a carried customer state's instant that an earlier earn event names,
    so a warm KPI call's scored orders read the earn events since the state instead of every
    earn event (`clientela.kpi.carried_earns`)."""
    from clientela.store.touched import carried_earn_links_sql

    return carried_earn_links_sql()


MIGRATIONS: list[Callable[[], list[str]]] = [
    _v1, _consent_ledger, _message_ledger, _import_quarantine_lifecycle, _identity_graph,
    _identity_resolution, _warm_results, _carried_customer_state, _warm_campaign_touches,
    _carried_return_gaps, _loyalty_order_source, _push_state_opt_outs, _carried_clv,
    _carried_loyalty_ledger, _kept_campaign_credits, _push_opt_outs, _kept_fits_by_series_start,
    _carried_redeem_links, _warm_reads_campaigns, _warm_results_last_used, _carried_earn_links,
]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer clientela; opening it could corrupt it."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
    row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the file to SCHEMA_VERSION; returns the version it was at."""
    found = current_version(con)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"this store has schema version {found}, newer than this clientela "
            f"understands ({SCHEMA_VERSION}); upgrade clientela"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        con.begin()
        try:
            for statement in MIGRATIONS[version - 1]():
                con.execute(statement)
            con.execute(f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [str(version)])
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return found
