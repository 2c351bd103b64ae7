"""What each write to the store touched, so cached KPI periods know when they are stale.

Every write through the store's write path (imports, syncs, webhooks, loyalty and journey
writes, quarantine retries) lands rows with `upsert_arrow` or `insert_new_arrow`; both call
in here, inside the write's own transaction, with the rows that are new or changed. For
each such row the instants it is dated by are logged, old and new (an order moved from
March to April touches both), as one row per UTC day: `(seq, entity, lo, hi)` where
`[lo, hi]` spans the changed instants of that day. A period whose answer reads records
dated in a range that overlaps a touch logged after the period was computed is stale
(`clientela.kpi.warm`).

Which instant dates a record:

- orders: `placed_at`; order lines: their order's `placed_at`;
- touches and loyalty events: `occurred_at` (and a loyalty event's `expires_at`);
- opportunities: `opened_at` and `closed_at`; NPS answers: `responded_at`;
- marketing spend and traffic: their local `day`, widened by a day on each side (a
  local day is a UTC range that depends on the workspace's time zone);
- an order and the loyalty events tied to it (`order_id`) date each other: a loyalty
  metric counts an order's redemptions, or an event's order;
- customers: no instant; a changed customer row is logged with the entity `customers`
  and invalidates every period of the answers that read customer rows (a customer
  slice, or a metric that lists `customers` in its `needs`);
- campaigns: no instant either; a changed campaign row is logged with the entity
  `campaigns` and invalidates every period of the answers that read campaign rows (a
  metric that lists `campaigns` in its `needs` or `reads_if_present`);
- anything else without a date: everything (`lo` and `hi` null).

A write of touches also logs, under the same `seq`, the campaign ids of the touches it
changed, old and new (`store_touched_campaigns`): a campaign's ROI follows every contact of
that campaign, whatever its date, so the dates alone cannot say which of its periods a
touch moved into or out of a campaign reaches (`clientela.kpi.warm`).

Deletions outside the write path (`forget`, a demo replaced by another) call
`record_customers` or `record_everything`. The identity graph (`identity_links`) may be
written by anyone, so it is checked when the cache is read instead: `identity_changed`.
A store without cached results logs nothing (there is nothing to invalidate).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from clientela.model.base import Record

TOUCHES_TABLE = "store_touches"
TOUCHES_SEQUENCE = "store_touches_seq"
RESULTS_TABLE = "kpi_results"
CUSTOMERS = "customers"
"""The entity of a touch that invalidates by customer rows rather than by date."""
CAMPAIGNS = "campaigns"
"""The entity of a touch that invalidates by campaign rows rather than by date."""
IDENTITY_FINGERPRINT = "warm_identity_fingerprint"
"""Meta key: the identity graph as the cache last saw it."""

STATES_TABLE = "kpi_carried_states"
"""Customer states carried between warm KPI calls (`clientela.kpi.carried`): one row per
kept state, with its key, as-of instant and the touch log position it is current to."""
CAMPAIGNS_TOUCHED_TABLE = "store_touched_campaigns"
"""Per logged write of touches (`seq`), the campaign ids of the touches it changed, old and
new."""
ROWS_TABLE = "kpi_carried_customers"
"""The kept states' rows: per state, one row per customer with a valid order before it."""
LEDGER_TABLE = "kpi_carried_ledger"
"""The kept states' loyalty ledgers: per state, each customer's events before it summed up
as the balance and expiry metrics read them (`clientela.kpi.carried_ledger`)."""
REDEEM_LINKS_TABLE = "kpi_carried_redeem_links"
"""The kept states' redemptions across their instant: per state, the orders placed before it
that a redeem event dated at or after it names, and those placed at or after it that a
redeem event dated before it names (`clientela.kpi.carried_redemptions`)."""
EARN_LINKS_TABLE = "kpi_carried_earn_links"
"""The kept states' scored orders across their instant: per state, the orders placed at or
after it that an earn event dated before it names (`clientela.kpi.carried_earns`)."""
GAPS_TABLE = "kpi_carried_gaps"
"""The kept states' closed gaps: per state, how many gaps between a customer's consecutive
valid orders, both placed before it, last each whole number of days."""
PURCHASE_DAYS_TABLE = "kpi_carried_purchase_days"
"""The kept states' CLV purchase-day counters (`clientela.clv.engine.carried`): per state,
time zone and reporting currency, one row per customer with a valid order before it."""
FITS_TABLE = "kpi_carried_fits"
"""CLV model fits kept between warm KPI calls, per chain (a model's fits along a series from
one start, at one grain, for one carried state key, time zone, currency and unit) and as of
a period's end, each with the touch log position it is current to: where the next call's
first fit starts (`clientela.clv.engine.carried`)."""
CREDIT_STATES_TABLE = "kpi_campaign_credit_states"
"""One row per kept table of credits: its key, the series' start and attribution window it
is for, and the touch log position it is current to."""
CREDITS_TABLE = "kpi_campaign_credits"
"""The kept credits: per key, UTC day (the orders' `placed_at`, truncated) and campaign, the
revenue credited."""
CREDIT_DIRTY_TABLE = "kpi_campaign_credit_dirty"
"""Per key, the ranges of instants a write logged since the credits were last brought up to
date, to be credited afresh before they are next read."""

INSTANTS: dict[str, tuple[str, ...]] = {
    "orders": ("placed_at",),
    "touches": ("occurred_at",),
    "loyalty_events": ("occurred_at", "expires_at"),
    "opportunities": ("opened_at", "closed_at"),
    "nps_responses": ("responded_at",),
}
"""Timestamp columns (naive UTC) that date each entity's records."""
DAYS: dict[str, tuple[str, ...]] = {"marketing_spend": ("day",), "traffic": ("day",)}
"""DATE columns (local days) that date each entity's records."""


def warm_tables_sql() -> list[str]:
    """The migration's statements: the touch log and the results cache."""
    return [
        f"CREATE SEQUENCE IF NOT EXISTS {TOUCHES_SEQUENCE} START 1",
        f"""CREATE TABLE IF NOT EXISTS {TOUCHES_TABLE} (
            seq BIGINT NOT NULL,
            entity VARCHAR NOT NULL,
            lo TIMESTAMP,
            hi TIMESTAMP,
            recorded_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} (
            result_key VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            slice VARCHAR NOT NULL,
            grain VARCHAR NOT NULL,
            timezone VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            as_of VARCHAR NOT NULL,
            catalogue_version VARCHAR NOT NULL,
            period_start TIMESTAMP NOT NULL,
            period_end TIMESTAMP NOT NULL,
            reads_from TIMESTAMP,
            reads_until TIMESTAMP,
            reads_customers BOOLEAN NOT NULL,
            watermark BIGINT NOT NULL,
            answer VARCHAR NOT NULL,
            computed_at TIMESTAMP NOT NULL,
            PRIMARY KEY (result_key, period_start, period_end))""",
    ]


def carried_gaps_sql() -> list[str]:
    """The migration's statement: the closed gaps each carried state keeps
    (`clientela.kpi.carried`), a histogram by whole days."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {GAPS_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            days BIGINT NOT NULL,
            gaps BIGINT NOT NULL)""",
    ]


def carried_ledger_sql() -> list[str]:
    """The migration's statement: the loyalty ledger each carried state keeps
    (`clientela.kpi.carried_ledger`)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            customer_id VARCHAR,
            lot BOOLEAN NOT NULL,
            expires_at TIMESTAMP,
            points BIGINT NOT NULL)""",
    ]


def carried_redeem_links_sql() -> list[str]:
    """The migration's statement: the redemptions across its instant each carried state
    keeps (`clientela.kpi.carried_redemptions`)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {REDEEM_LINKS_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            source VARCHAR,
            order_id VARCHAR,
            before BOOLEAN NOT NULL,
            valid BOOLEAN NOT NULL,
            loyalty_value DECIMAL(18, 2))""",
    ]


def carried_earn_links_sql() -> list[str]:
    """The migration's statement: the orders since its instant that an earlier earn event
    names, each carried state keeps (`clientela.kpi.carried_earns`)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {EARN_LINKS_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            source VARCHAR,
            order_id VARCHAR)""",
    ]


def carried_tables_sql() -> list[str]:
    """The migration's statements: the customer states a warm KPI call carries forward
    (`clientela.kpi.carried`) and their rows."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {STATES_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            watermark BIGINT NOT NULL,
            saved_at TIMESTAMP NOT NULL,
            PRIMARY KEY (state_key, as_of))""",
        f"""CREATE TABLE IF NOT EXISTS {ROWS_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            customer_id VARCHAR NOT NULL,
            orders BIGINT NOT NULL,
            revenue DECIMAL(38, 2),
            first_at TIMESTAMP NOT NULL,
            last_at TIMESTAMP NOT NULL,
            first_order_id VARCHAR,
            first_channel VARCHAR,
            first_store_id VARCHAR,
            first_salesperson_id VARCHAR)""",
    ]


def carried_clv_sql() -> list[str]:
    """The migration's statements: the CLV purchase-day counters each carried state keeps
    (`clientela.clv.engine.carried`; the fits kept as warm starts are `kept_fits_sql`'s)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {PURCHASE_DAYS_TABLE} (
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            timezone VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            purchases BIGINT NOT NULL,
            cents DOUBLE NOT NULL,
            first_day BIGINT NOT NULL,
            first_cents DOUBLE NOT NULL,
            last_day BIGINT NOT NULL)""",
    ]


def kept_fits_sql() -> list[str]:
    """The migration's statements: the CLV fits kept as warm starts, per chain, with the
    carried state key they were made under and when their chain was last used, so that
    the fits no later call can read are dropped (`clientela.clv.engine.carried`). They
    replace fits kept per state key alone, which a series from another start could
    overwrite: a cache, so those are dropped rather than converted."""
    return [
        f"DROP TABLE IF EXISTS {FITS_TABLE}",
        f"""CREATE TABLE {FITS_TABLE} (
            fit_key VARCHAR NOT NULL,
            state_key VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL,
            watermark BIGINT NOT NULL,
            fit VARCHAR NOT NULL,
            used_at TIMESTAMP NOT NULL,
            PRIMARY KEY (fit_key, as_of))""",
    ]


def campaign_touches_sql() -> list[str]:
    """The migration's statements: the campaigns each write of touches changed, and, per kept
    answer, the attribution window of an answer that follows its period's campaigns
    (`Metric.depends_on == "campaigns"`; null for every other answer)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {CAMPAIGNS_TOUCHED_TABLE} (
            seq BIGINT NOT NULL,
            campaign_id VARCHAR NOT NULL)""",
        f"ALTER TABLE {RESULTS_TABLE} ADD COLUMN IF NOT EXISTS reads_window_seconds BIGINT",
    ]


def reads_campaigns_sql() -> list[str]:
    """The migration's statement: per kept answer, whether it read campaign rows (a write of
    them invalidates only those, `clientela.kpi.warm`). Answers kept before it are taken to
    have read them: one campaign write drops them, as it did."""
    return [f"ALTER TABLE {RESULTS_TABLE} ADD COLUMN IF NOT EXISTS reads_campaigns BOOLEAN "
            "DEFAULT true"]


def results_last_used_sql() -> list[str]:
    """The migration's statement: per kept answer, the warm call that last read or wrote it
    (a counter, one more each call), so that `kpi_results` keeps only the series starts used
    last (`clientela.kpi.warm.KEEP_SERIES_STARTS`). Answers kept before it count as used
    before any call since."""
    return [f"ALTER TABLE {RESULTS_TABLE} ADD COLUMN IF NOT EXISTS last_used BIGINT DEFAULT 0"]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _caching(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(f"SELECT 1 FROM {RESULTS_TABLE} LIMIT 1").fetchone()
    return row is not None


def _next_seq(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT nextval('{TOUCHES_SEQUENCE}')").fetchone()
    assert row is not None
    return int(row[0])


def watermark(con: duckdb.DuckDBPyConnection) -> int:
    """The latest touch logged so far (0 for none), dated or by campaign."""
    row = con.execute(f"""SELECT coalesce(max(seq), 0) FROM (
                              SELECT seq FROM {TOUCHES_TABLE}
                              UNION ALL SELECT seq FROM {CAMPAIGNS_TOUCHED_TABLE})""").fetchone()
    return int(row[0]) if row else 0


def _log(con: duckdb.DuckDBPyConnection, entity: str, lo: datetime | None = None,
         hi: datetime | None = None) -> None:
    con.execute(f"INSERT INTO {TOUCHES_TABLE} VALUES (?, ?, ?, ?, ?)",
                [_next_seq(con), entity, lo, hi, _now()])


def record_everything(con: duckdb.DuckDBPyConnection, entity: str = "*") -> None:
    """A change that can move any answer of any period (rows deleted wholesale)."""
    if _caching(con):
        _log(con, entity)


def record_customers(con: duckdb.DuckDBPyConnection) -> None:
    """Customer rows changed outside the upsert path (`forget` blanking a person)."""
    if _caching(con):
        _log(con, CUSTOMERS)


def _log_instants(con: duckdb.DuckDBPyConnection, entity: str, ranges_sql: str,
                  seq: int | None = None) -> None:
    """Log the ranges `ranges_sql` selects (columns `lo`, `hi`; an instant is `lo = hi`),
    merged per UTC day of `lo`: the day's hull covers every range logged in it."""
    con.execute(
        f"""INSERT INTO {TOUCHES_TABLE}
            SELECT ?, ?, min(lo), max(hi), ? FROM ({ranges_sql}) WHERE lo IS NOT NULL
            GROUP BY date_trunc('day', lo)""",
        [_next_seq(con) if seq is None else seq, entity, _now()])


def _instants(model: type[Record], new: str, old: str | None) -> str | None:
    """SQL selecting `lo`, `hi`: every instant (or local day, as the UTC range it can cover)
    that dates the changed rows (`new`, and `old` for the stored versions they replace), or
    None when the entity has no date."""
    table = model.table
    selects: list[str] = []
    for alias in (a for a in (new, old) if a is not None):
        for column in INSTANTS.get(table, ()):
            value = f'CAST({alias}."{column}" AS TIMESTAMP)'
            selects.append(f"SELECT {value} AS lo, {value} AS hi FROM _changed")
        for column in DAYS.get(table, ()):
            value = f'CAST({alias}."{column}" AS TIMESTAMP)'
            selects.append(f"SELECT {value} - INTERVAL 1 DAY AS lo, "
                           f"{value} + INTERVAL 2 DAY AS hi FROM _changed")
    return " UNION ALL ".join(selects) if selects else None


def record_upsert(con: duckdb.DuckDBPyConnection, model: type[Record], staged: str,
                  target: str, join: str, hash_column: str) -> None:
    """Log what the upsert of `staged` into `target` changes (called before the merge, so
    the stored versions are still there): inserted rows and rows whose hash differs."""
    if not _caching(con):
        return
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _changed AS
                    SELECT s AS s, t AS t FROM {staged} s LEFT JOIN {target} t ON {join}
                    WHERE t.{hash_column} IS NULL OR t.{hash_column} <> s.{hash_column}""")
    try:
        _record_changed(con, model, old=True)
    finally:
        con.execute("DROP TABLE IF EXISTS _changed")


def record_insert(con: duckdb.DuckDBPyConnection, model: type[Record], view: str) -> None:
    """Log rows bulk-inserted as all new (`insert_new_arrow`)."""
    if not _caching(con):
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT s AS s FROM {view} s")
    try:
        _record_changed(con, model, old=False)
    finally:
        con.execute("DROP TABLE IF EXISTS _changed")


def _record_changed(con: duckdb.DuckDBPyConnection, model: type[Record], *, old: bool) -> None:
    """`_changed` holds struct columns `s` (new) and, when `old`, `t` (stored; null for a new
    key) of the changed rows."""
    row = con.execute("SELECT count(*) FROM _changed").fetchone()
    if not row or not row[0]:
        return
    table = model.table
    if table == CUSTOMERS:
        _log(con, CUSTOMERS)
        return
    if table == "order_lines":
        _log_instants(con, table, """
            SELECT CAST(o.placed_at AS TIMESTAMP) AS lo, CAST(o.placed_at AS TIMESTAMP) AS hi
            FROM orders o
            JOIN (SELECT DISTINCT s.source AS src, s.order_id AS oid FROM _changed) c
              ON o.source = c.src AND o.order_id = c.oid""")
        return
    instants = _instants(model, "s", "t" if old else None)
    if instants is None:
        _log(con, table)
        return
    seq = _next_seq(con)
    _log_instants(con, table, instants, seq)
    if table == "touches":  # the campaigns they belong to, before and after
        old_ids = " UNION ALL SELECT t.campaign_id FROM _changed" if old else ""
        con.execute(f"""INSERT INTO {CAMPAIGNS_TOUCHED_TABLE}
                        SELECT DISTINCT ?, cid FROM (
                            SELECT s.campaign_id AS cid FROM _changed{old_ids})
                        WHERE cid IS NOT NULL""", [seq])
    if table == "orders":  # loyalty metrics read the events tied to an order, and back
        _log_instants(con, table, """
            SELECT CAST(e.occurred_at AS TIMESTAMP) AS lo, CAST(e.occurred_at AS TIMESTAMP) AS hi
            FROM loyalty_events e
            JOIN (SELECT DISTINCT s.order_id AS oid FROM _changed) c ON e.order_id = c.oid""")
    elif table == "loyalty_events":
        tied = "SELECT s.order_id AS oid FROM _changed" + (
            " UNION SELECT t.order_id FROM _changed" if old else "")
        _log_instants(con, table, f"""
            SELECT CAST(o.placed_at AS TIMESTAMP) AS lo, CAST(o.placed_at AS TIMESTAMP) AS hi
            FROM orders o JOIN ({tied}) c ON o.order_id = c.oid""")


def identity_changed(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the identity graph differs from what the cache last saw (then everything is
    logged as touched: a merge can move a customer's whole history). Remembers the new
    state. Cheap: one pass over `identity_links`, which holds one row per linked customer."""
    from clientela.identity import IDENTITY_LINKS_TABLE
    from clientela.store.migrations import META_TABLE

    try:
        row = con.execute(f"""SELECT count(*), coalesce(bit_xor(hash(customer_id, person_id)), 0)
                              FROM {IDENTITY_LINKS_TABLE}""").fetchone()
    except duckdb.CatalogException:
        return False
    now = f"{row[0]}:{row[1]}" if row else "0:0"
    seen = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = ?",
                       [IDENTITY_FINGERPRINT]).fetchone()
    if seen is not None and seen[0] == now:
        return False
    con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?)", [IDENTITY_FINGERPRINT, now])
    if seen is None and now == "0:0":
        return False
    if _caching(con):
        _log(con, "identity_links")
    return True


def forget_results(con: duckdb.DuckDBPyConnection, keys: Sequence[str] | None = None) -> int:
    """Drop cached results (all, or these keys); returns how many rows went."""
    if keys is None:
        found = con.execute(f"DELETE FROM {RESULTS_TABLE} RETURNING 1").fetchall()
    else:
        found = con.execute(f"DELETE FROM {RESULTS_TABLE} WHERE result_key IN "
                            "(SELECT unnest(?)) RETURNING 1", [list(keys)]).fetchall()
    return len(found)


def campaign_credits_sql() -> list[str]:
    """The migration's statements: the kept credits of campaign ROI and what to redo
    (`clientela.kpi.campaign_credits`)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {CREDIT_STATES_TABLE} (
            state_key VARCHAR PRIMARY KEY,
            since TIMESTAMP NOT NULL,
            window_seconds BIGINT NOT NULL,
            watermark BIGINT NOT NULL,
            used_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {CREDITS_TABLE} (
            state_key VARCHAR NOT NULL,
            day TIMESTAMP NOT NULL,
            campaign_id VARCHAR NOT NULL,
            revenue DECIMAL(38, 2))""",
        f"""CREATE TABLE IF NOT EXISTS {CREDIT_DIRTY_TABLE} (
            state_key VARCHAR NOT NULL,
            lo TIMESTAMP NOT NULL,
            hi TIMESTAMP NOT NULL)""",
    ]
