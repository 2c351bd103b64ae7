"""Who a journey should talk to: members who can redeem, points about to expire, first points,
tier changes, read from the ledger (the engine's or an imported one).

What is left of each lot at an instant follows from the ledger alone,
because redemptions take the soonest-to-expire points first: of a balance B,
a lot keeps `clamp(B - (points of the lots expiring after it), 0, its
points)`. A lot's points are its earn less the reversals tied to the same
order, since a reversal takes back what is left of that very lot; the same order
is the same key, (source, order_id): a row's `order_source`, or its own `source`
when that is unset (an imported ledger).

Each audience is one SQL query over `loyalty_events`, returned as Arrow; the
`loyalty` segmenter puts them together, one segment per customer.

Balances are per person: when the store links customer records to persons
(`clientela.identity`), the ledger is read with each entry's customer id
replaced by its person (`ledger_source`), so a woman who earned online and
at the till has one balance, one set of lots and one audience row, keyed by
her person id. The ledger itself stays keyed by record (docs/persons.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from clientela.identity import IDENTITY_LINKS_TABLE, person_id_sql
from clientela.identity.analytics import links_in_use
from clientela.store import Store
from clientela_loyalty.calendar import from_micros, to_micros
from clientela_loyalty.rules import LoyaltyRules
from clientela_loyalty.tiers import TierChange


def _ts(moment: datetime) -> str:
    """A naive-UTC TIMESTAMP literal (from a datetime, so nothing of a user's text reaches SQL)."""
    return f"TIMESTAMP '{from_micros(to_micros(moment)):%Y-%m-%d %H:%M:%S.%f}'"


LEDGER = "loyalty_events"


def ledger_source(persons: bool) -> str:
    """The ledger as the audiences read it: as stored, or (`persons`) with each entry's
    customer id replaced by its person's."""
    if not persons:
        return LEDGER
    return (f"(SELECT e.* REPLACE ({person_id_sql('e.customer_id')} AS customer_id) "
            f"FROM {LEDGER} e LEFT JOIN {IDENTITY_LINKS_TABLE} il "
            "ON il.customer_id = e.customer_id)")


def store_ledger(store: Store) -> str:
    """`ledger_source` for this store: per person when resolution is on and it holds links."""
    return ledger_source(links_in_use(store))


def balances_sql(at: datetime, events: str = LEDGER) -> str:
    return f"""SELECT customer_id, CAST(sum(points) AS BIGINT) AS balance
               FROM {events} WHERE occurred_at < {_ts(at)} GROUP BY customer_id"""


def lots_sql(at: datetime, events: str = LEDGER) -> str:
    """customer_id, event_id, expires_at, earned_at, left: what is left of every lot not yet
    expired before `at`."""
    before = f"occurred_at < {_ts(at)}"
    return f"""
        WITH balance AS ({balances_sql(at, events)}),
        reversed AS (
            SELECT customer_id, coalesce(order_source, source) AS order_source, order_id,
                   sum(points) AS points FROM {events}
            WHERE kind = 'reverse' AND order_id IS NOT NULL AND {before} GROUP BY ALL),
        lots AS (
            SELECT e.customer_id, e.event_id, e.expires_at, e.occurred_at AS earned_at,
                   e.points + coalesce(r.points, 0) AS size
            FROM {events} e
            LEFT JOIN reversed r ON e.kind = 'earn' AND r.customer_id = e.customer_id
                                    AND r.order_source = coalesce(e.order_source, e.source)
                                    AND r.order_id = e.order_id
            WHERE e.points > 0 AND e.kind IN ('earn', 'adjust') AND e.{before}
                  AND (e.expires_at IS NULL OR e.expires_at >= {_ts(at)})),
        later AS (
            SELECT *, coalesce(sum(size) OVER (
                PARTITION BY customer_id ORDER BY expires_at DESC NULLS FIRST, event_id DESC
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS after
            FROM lots)
        SELECT l.customer_id, l.event_id, l.expires_at, l.earned_at,
               CAST(greatest(least(b.balance - l.after, l.size), 0) AS BIGINT) AS "left"
        FROM later l JOIN balance b USING (customer_id)"""


def expiring_sql(at: datetime, days: int, events: str = LEDGER) -> str:
    horizon = at + timedelta(days=days)
    return f"""
        WITH lots AS ({lots_sql(at, events)}),
        soon AS (SELECT * FROM lots WHERE "left" > 0 AND expires_at < {_ts(horizon)}),
        first AS (SELECT customer_id, min(expires_at) AS next_expiry_at FROM soon GROUP BY ALL)
        SELECT s.customer_id, CAST(sum(s."left") AS BIGINT) AS points_expiring,
               f.next_expiry_at,
               CAST(sum(s."left") FILTER (WHERE s.expires_at = f.next_expiry_at) AS BIGINT)
                   AS next_expiry_points
        FROM soon s JOIN first f USING (customer_id)
        GROUP BY s.customer_id, f.next_expiry_at"""


def first_points_sql(since: datetime, until: datetime, events: str = LEDGER) -> str:
    return f"""
        SELECT customer_id, min(occurred_at) AS first_points_at,
               CAST(arg_min(points, occurred_at) AS BIGINT) AS first_points
        FROM {events} WHERE kind = 'earn' GROUP BY customer_id
        HAVING min(occurred_at) >= {_ts(since)} AND min(occurred_at) < {_ts(until)}"""


def redeemable_now(store: Store, rules: LoyaltyRules, at: datetime) -> pa.Table:
    """customer_id, balance: members whose balance at `at` reaches the redemption threshold."""
    return store.con.execute(
        f"SELECT * FROM ({balances_sql(at, store_ledger(store))}) WHERE balance >= ? "
        "ORDER BY customer_id",
        [rules.redemption_threshold]).fetch_arrow_table()


def expiring_within(store: Store, at: datetime, days: int) -> pa.Table:
    """customer_id, points_expiring (in [at, at + days)), next_expiry_at and the
    next_expiry_points due then: for a 'your points expire on ...' message."""
    return store.con.execute(
        f"SELECT * FROM ({expiring_sql(at, days, store_ledger(store))}) ORDER BY customer_id"
    ).fetch_arrow_table()


def first_points(store: Store, since: datetime, until: datetime) -> pa.Table:
    """customer_id, first_points_at, first_points: customers whose first points ever were
    earned in [since, until), for a welcome message."""
    return store.con.execute(
        f"SELECT * FROM ({first_points_sql(since, until, store_ledger(store))}) "
        "ORDER BY customer_id"
    ).fetch_arrow_table()


def tier_changes(store: Store, rules: LoyaltyRules, timezone: str, since: datetime,
                 until: datetime) -> pa.Table:
    """customer_id, changed_at, tier_before, tier_after, direction ('up' or 'down') for every
    tier change in [since, until)."""
    from clientela_loyalty.history import read_orders
    from clientela_loyalty.tiers import tiers_of

    until_us, since_us = to_micros(until), to_micros(since)
    changes: list[TierChange] = tiers_of(read_orders(store.con, rules, until_us), rules,
                                         timezone, until_us)
    names = ["", *(tier.name for tier in rules.tiers)]
    kept = [c for c in changes if since_us <= c.at_us < until_us]
    return pa.table({
        "customer_id": pa.array([c.customer_id for c in kept], pa.string()),
        "changed_at": pa.array([c.at_us for c in kept], pa.int64()).cast(pa.timestamp("us")),
        "tier_before": pa.array([names[c.before] or None for c in kept], pa.string()),
        "tier_after": pa.array([names[c.after] or None for c in kept], pa.string()),
        "direction": pa.array(["up" if c.after > c.before else "down" for c in kept],
                              pa.string()),
    })
