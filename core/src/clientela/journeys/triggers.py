"""The built-in triggers: who a journey reaches, for which occurrence, from when.

Each trigger answers one question over the store: "which (customer,
occurrence) pairs have their moment inside [start, end)?" The moment (the
anchor) is when the first step is due; the occurrence is what makes the
trigger fire again (nothing for a first order, the month for a monthly
reminder, the expiry date, the year for a birthday, the last order for a
lapse, the order for a post-sale), so each lands in the ledger once.

Orders count when valid (not cancelled or fully refunded); balances are the
sum of a customer's loyalty events before the moment. Date-based triggers
fire at `send_hour` in the workspace's time zone.

With persons (`clientela.identity`), first orders, first points, lapses and
balances are the person's, over all her records; the anchor names the record
the moment came from (the order's, the entry's), so planning reaches her there
or on her other records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from clientela.identity.analytics import person_join
from clientela.journeys.ledger import naive
from clientela.journeys.spec import Journey
from clientela.model import INVALID_ORDER_STATUSES

VALID = "status NOT IN ({})".format(", ".join(f"'{s}'" for s in sorted(INVALID_ORDER_STATUSES)))


@dataclass(frozen=True)
class Anchor:
    customer_id: str
    occurrence: str
    at: datetime
    """Aware UTC: the moment the journey's first step is due."""
    variables: dict[str, Any] = field(default_factory=dict)
    salesperson_id: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class TriggerContext:
    con: duckdb.DuckDBPyConnection
    zone: ZoneInfo
    redemption_threshold: int
    now: datetime


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def first_order(ctx: TriggerContext, j: Journey, start: datetime, end: datetime) -> list[Anchor]:
    """A person's first valid order on any of her records (on the record that placed it)."""
    join, person = person_join(ctx.con, "o")
    rows = ctx.con.execute(f"""
        SELECT arg_min(o.customer_id, o.placed_at), arg_min(o.order_id, o.placed_at),
               arg_min(o.total, o.placed_at), min(o.placed_at)
        FROM orders o {join} WHERE o.{VALID} AND o.customer_id IS NOT NULL GROUP BY {person}
        HAVING min(o.placed_at) >= ? AND min(o.placed_at) < ?""",
        [naive(start), naive(end)]).fetchall()
    return [Anchor(str(c), "first", _utc(at), {"order_id": str(o), "order_total": total},
                   order_id=str(o)) for c, o, total, at in rows]


def first_points(ctx: TriggerContext, j: Journey, start: datetime, end: datetime) -> list[Anchor]:
    """A person's first points on any of her records."""
    join, person = person_join(ctx.con, "e")
    rows = ctx.con.execute(f"""
        SELECT arg_min(e.customer_id, e.occurred_at), arg_min(e.points, e.occurred_at),
               min(e.occurred_at)
        FROM loyalty_events e {join} WHERE e.kind = 'earn' GROUP BY {person}
        HAVING min(e.occurred_at) >= ? AND min(e.occurred_at) < ?""",
        [naive(start), naive(end)]).fetchall()
    return [Anchor(str(c), "first", _utc(at), {"points": int(p)}) for c, p, at in rows]


def monthly_redeemable(ctx: TriggerContext, j: Journey, start: datetime,
                       end: datetime) -> list[Anchor]:
    threshold = j.minimum_points or ctx.redemption_threshold
    join, person = person_join(ctx.con, "e")  # a person's balance: all her records'
    anchors: list[Anchor] = []
    for day in _local_days(start, end, ctx.zone):
        if day.day != j.day_of_month:
            continue
        at = _at(day, j.send_hour, ctx.zone)
        if not start <= at < end:
            continue
        rows = ctx.con.execute(f"""
            SELECT min(e.customer_id), CAST(sum(e.points) AS BIGINT) FROM loyalty_events e {join}
            WHERE e.occurred_at < ? GROUP BY {person} HAVING sum(e.points) >= ?""",
            [naive(at), threshold]).fetchall()
        month = f"{day.year:04d}-{day.month:02d}"
        anchors += [Anchor(str(c), month, at, {"points": int(p),
                                               "minimum_purchase": j.minimum_purchase})
                    for c, p in rows]
    return anchors


def points_expiring(ctx: TriggerContext, j: Journey, start: datetime,
                    end: datetime) -> list[Anchor]:
    days = j.trigger_days
    zone_name = str(ctx.zone.key)
    join, person = person_join(ctx.con, "e")  # one warning per person and expiry date
    rows = ctx.con.execute(f"""
        SELECT min(e.customer_id),
               CAST(timezone(?, e.expires_at AT TIME ZONE 'UTC') AS DATE) AS d,
               CAST(sum(e.points) AS BIGINT)
        FROM loyalty_events e {join} WHERE e.kind = 'earn' AND e.expires_at IS NOT NULL
          AND e.expires_at >= ? AND e.expires_at < ?
        GROUP BY {person}, d""",
        [zone_name, naive(start + timedelta(days=days - 2)),
         naive(end + timedelta(days=days + 2))]).fetchall()
    anchors = []
    for customer, expiry, points in rows:
        at = _at(expiry - timedelta(days=days), j.send_hour, ctx.zone)
        if start <= at < end:
            anchors.append(Anchor(str(customer), expiry.isoformat(), at,
                                  {"points": int(points), "expiry_date": expiry}))
    return anchors


def birthday(ctx: TriggerContext, j: Journey, start: datetime, end: datetime) -> list[Anchor]:
    days = {(d.month, d.day): d for d in _local_days(start, end, ctx.zone)}
    rows = ctx.con.execute("SELECT customer_id, birth_date FROM customers WHERE birth_date "
                           "IS NOT NULL ORDER BY customer_id").fetchall()
    anchors = []
    for customer, born in rows:
        day = days.get((born.month, born.day))
        if day is None:
            continue
        at = _at(day, j.send_hour, ctx.zone)
        if start <= at < end:
            anchors.append(Anchor(str(customer), str(day.year), at))
    return anchors


def lapsed(ctx: TriggerContext, j: Journey, start: datetime, end: datetime) -> list[Anchor]:
    days = j.trigger_days
    join, person = person_join(ctx.con, "o")  # lapsed as a person: her last order anywhere
    rows = ctx.con.execute(f"""
        SELECT arg_max(o.customer_id, o.placed_at), arg_max(o.order_id, o.placed_at),
               max(o.placed_at)
        FROM orders o {join} WHERE o.{VALID} AND o.customer_id IS NOT NULL GROUP BY {person}
        HAVING max(o.placed_at) >= ? AND max(o.placed_at) < ?""",
        [naive(start - timedelta(days=days)), naive(end - timedelta(days=days))]).fetchall()
    return [Anchor(str(c), f"after:{o}", _utc(at) + timedelta(days=days), {"days": days})
            for c, o, at in rows]


def post_purchase(ctx: TriggerContext, j: Journey, start: datetime,
                  end: datetime) -> list[Anchor]:
    days = j.trigger_days
    rows = ctx.con.execute(f"""
        SELECT customer_id, order_id, total, placed_at, salesperson_id FROM orders
        WHERE {VALID} AND customer_id IS NOT NULL AND placed_at >= ? AND placed_at < ?""",
        [naive(start - timedelta(days=days)), naive(end - timedelta(days=days))]).fetchall()
    return [Anchor(str(c), str(o), _utc(at) + timedelta(days=days),
                   {"order_id": str(o), "order_total": total, "days": days},
                   salesperson_id=str(sp) if sp is not None else None, order_id=str(o))
            for c, o, total, at, sp in rows]


TRIGGERS: dict[str, Callable[[TriggerContext, Journey, datetime, datetime], list[Anchor]]] = {
    "first_order": first_order,
    "first_points": first_points,
    "monthly_redeemable": monthly_redeemable,
    "points_expiring": points_expiring,
    "birthday": birthday,
    "lapsed": lapsed,
    "post_purchase": post_purchase,
}
