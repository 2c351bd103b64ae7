"""Campaign ROI's credits kept between warm runs: per UTC day and campaign, the revenue of
the valid orders placed that day credited to a contact of the campaign, so that a write
costs the days it can change rather than a join of every contact ever with its orders.

`campaign_roi` answers, for the campaigns started in a period, the revenue credited to all
their contacts, whenever made: on a store whose relationship campaign has contacted
customers every week for three years, one new day of orders reaches that campaign, and a
cold answer joins every contact since the series' start with the orders in its window,
night after night. But the credit of an order (last touch inside the attribution window
`d`) depends only on that order and its customer's contacts in the `d` days before it, so

- an order written (new, refunded, cancelled, moved: logged at its `placed_at`, old and
  new) changes the credit of that order alone;
- a contact written at `t` (new, moved, deleted, another campaign: logged at its
  `occurred_at`, old and new) changes the credit of the orders placed in `[t, t + d)`
  alone.

So the warm path keeps each day's credited revenue per campaign (`CREDITS_TABLE`), and
when the cache is read records, for each kept table, the days a write logged since
(`note_writes`, `DIRTY_TABLE`); before the engine call that needs it, the orders placed in
`[logged day, logged day + d)` (whole UTC days) are credited afresh from the contacts of
the `d` days before them, replacing those days' rows (`ensure`). A campaign's whole-life
revenue is then the sum of its days, added exactly (DECIMAL). The answer is the one a cold
series gives: its contacts are those from the series' start on (`since`, part of the key),
every contact that can compete for an order's credit is read with it, and an order outside
the recomputed days keeps its credit because nothing it depends on was written.

A write without a date that can change orders or contacts (a store replaced, the identity
graph changed: orders and contacts may be read as persons) drops every kept table; a write
without a date of anything else (customer rows, campaign rows, any entity no credit reads)
leaves them kept. Like the kept answers, nothing is logged while no answer is kept, so then
every table goes. Each table is keyed by clientela's version, the
engine's sources, the series' start, the attribution window, the reporting currency and
whether orders are read as persons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from clientela.store.touched import CREDIT_DIRTY_TABLE as DIRTY_TABLE
from clientela.store.touched import CREDIT_STATES_TABLE as STATES_TABLE
from clientela.store.touched import CREDITS_TABLE, RESULTS_TABLE, TOUCHES_TABLE

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

DATED_ENTITIES: tuple[str, ...] = ("orders", "order_lines", "touches")
"""Touch log entities whose dated writes can change a credit: an order (its lines, its
status, its refunds, its time) and a contact."""
UNDATED_CHANGING: tuple[str, ...] = (*DATED_ENTITIES, "identity_links", "*")
"""Touch log entities whose writes without a date can change a credit, which reads the valid
orders (their own rows: status, amounts, exchange rate, time, customer) and the contacts
of campaigns: those two, the identity graph (orders and contacts may be read as persons)
and anything replaced wholesale. Every other entity's undated write leaves the credits
kept: customer rows, campaign rows (the credits are per campaign id; which campaigns a
period holds, their cost and channel, are read afresh by every answer), and any entity no
credit reads."""
KEEP = 4
"""Kept tables at most (series starts, windows, currencies), the most recently used."""
MAX_WINDOWS = 16
"""Ranges of days credited afresh in one query at most: beyond, the closest are merged
(crediting more days afresh than needed is exact, only costlier)."""


@dataclass(frozen=True)
class KeptCredits:
    """Kept credits an engine call may read: on `backend`, keyed `key`, for an attribution
    window of `days` and orders read as persons or not (`persons`)."""

    backend: Any
    key: str
    days: int
    persons: bool
    origin: str = "kept"
    """How this call got them: `kept`, `updated for N ranges of days` or `built`."""


_current: ContextVar[KeptCredits | None] = ContextVar("clientela_campaign_credits",
                                                      default=None)


@contextmanager
def crediting(credits: KeptCredits | None) -> Iterator[None]:
    """Let the engine calls made inside read `credits` (the warm path's engine call)."""
    token = _current.set(credits)
    try:
        yield
    finally:
        _current.reset(token)


def kept_credits(ctx: MetricContext, days: int) -> ir.Table | None:
    """The credited revenue (`campaign_id`, `revenue`, one row per day and campaign) of
    every contact from the kept series' start on, or None outside a warm call, on another
    backend, for another window or with persons read otherwise."""
    from clientela.kpi.persons import persons_apply

    credits = _current.get()
    if credits is None or ctx.backend is not credits.backend or credits.days != days:
        return None
    if persons_apply(ctx) != credits.persons:
        return None
    rows = ctx.stored(CREDITS_TABLE)
    rows = rows.filter(rows.state_key == credits.key)
    return rows.select("campaign_id", "revenue")


def _tables_exist(con: Any) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                      [STATES_TABLE]).fetchone()
    return bool(row and row[0])


def note_writes(con: Any, mark: int) -> None:
    """Record, for every kept table, the dated writes logged up to `mark` that can change
    its credits, and drop those an undated write may have changed (inside the warm cache's
    refresh transaction, before the log is trimmed). While no answer is kept the store
    logs nothing, so then every table goes: writes made meanwhile went unseen."""
    if not _tables_exist(con):
        return
    if con.execute(f"SELECT 1 FROM {RESULTS_TABLE} LIMIT 1").fetchone() is None:
        con.execute(f"DELETE FROM {STATES_TABLE}")
    else:
        changing = ", ".join(f"'{e}'" for e in UNDATED_CHANGING)
        con.execute(f"""DELETE FROM {STATES_TABLE} s WHERE EXISTS (
                            SELECT 1 FROM {TOUCHES_TABLE} t
                            WHERE t.seq > s.watermark AND t.seq <= ?
                              AND (t.lo IS NULL OR t.hi IS NULL)
                              AND t.entity IN ({changing}))""", [mark])
        dated = ", ".join(f"'{e}'" for e in DATED_ENTITIES)
        con.execute(f"""INSERT INTO {DIRTY_TABLE}
                        SELECT s.state_key, min(t.lo), max(t.hi)
                        FROM {STATES_TABLE} s JOIN {TOUCHES_TABLE} t
                          ON t.seq > s.watermark AND t.seq <= ?
                        WHERE t.entity IN ({dated}) AND t.lo IS NOT NULL AND t.hi IS NOT NULL
                        GROUP BY s.state_key, date_trunc('day', t.lo)""", [mark])
        con.execute(f"UPDATE {STATES_TABLE} SET watermark = ? WHERE watermark < ?",
                    [mark, mark])
    _drop_orphans(con)


def _drop_orphans(con: Any) -> None:
    for table in (CREDITS_TABLE, DIRTY_TABLE):
        con.execute(f"""DELETE FROM {table} r WHERE NOT EXISTS (
                            SELECT 1 FROM {STATES_TABLE} s WHERE s.state_key = r.state_key)""")


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def days_to_redo(logged: Sequence[tuple[datetime, datetime]], window: timedelta
                 ) -> list[tuple[datetime, datetime]]:
    """The whole UTC days [from, until) whose orders' credits the `logged` instants (each a
    range [lo, hi]) can change: from lo's day to the day after hi + window, merged, at most
    MAX_WINDOWS ranges (the closest merged first)."""
    spans = sorted((_day(lo), _day(hi + window) + timedelta(days=1)) for lo, hi in logged)
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    while len(merged) > MAX_WINDOWS:
        i = min(range(len(merged) - 1), key=lambda j: merged[j + 1][0] - merged[j][1])
        merged[i:i + 2] = [(merged[i][0], merged[i + 1][1])]
    return merged


Credited = Callable[..., "ir.Table"]
"""A metric's credited orders (`campaign_id`, `revenue`, `placed_at` per order credited):
`credited(ctx, days, since=..., orders=None | (from, until))`."""

_CREDITED: dict[Callable[..., Any], Credited] = {}
"""The metrics whose answers the kept credits serve, by their compute function, each with
its credited orders. The metric's own module registers them (`serves`), so this engine
module imports no metric."""


def serves(compute: Callable[..., Any], credited: Credited) -> None:
    """Declare that the metric computed by `compute` reads its credits through
    `kept_credits`, and that `credited` gives the orders they sum."""
    _CREDITED[compute] = credited


def credited_by(compute: Callable[..., Any]) -> Credited | None:
    """The credited orders behind a metric that reads kept credits, or None."""
    return _CREDITED.get(compute)


BUILD_PARTS = 4
"""Into how many queries, by when the order was placed, credits built from nothing are
written (see `build_spans`)."""


def build_spans(last_order: datetime | None, since: datetime,
                parts: int = BUILD_PARTS) -> list[tuple[datetime, datetime]]:
    """The orders from `since` on as at most `parts` spans [from, until) cut at UTC
    midnights, the last one open-ended (until `datetime.max`), so that credits built from
    nothing are written one span at a time.

    Crediting all the orders in one query holds every valid order in the join's hash
    table at once: at 1M orders under a 200MB limit (what 2 GB is to the 10M store) that
    query spilled, 1.78 CPU s (3.16 s wall) against 1.01 (1.02 s) in four spans (two
    still spilled, eight cost what four do). Each
    span is what `ensure` credits afresh for a day a write reached, so a built table is
    the sum of such updates; the cuts fall at midnights, so no (day, campaign) row is
    split between two spans."""
    if last_order is None or last_order <= since:
        return [(since, datetime.max)]
    step = -(-(_day(last_order) - _day(since)).days // parts)  # ceiling
    cuts = [_day(since) + timedelta(days=step * i) for i in range(1, parts)]
    bounds = [since, *[cut for cut in cuts if since < cut <= last_order], datetime.max]
    return list(pairwise(bounds))


def _credits_sql(ctx: MetricContext, credited_orders: Credited, days: int, since: datetime,
                 spans: Sequence[tuple[datetime, datetime]] | None) -> list[str]:
    """SQL of the credits (day, campaign_id, revenue) of the orders placed from `since` on,
    one query per span of `build_spans`, or, with `spans`, of those placed in them (one
    query: a write reaches a few days)."""
    import ibis

    window = timedelta(days=days)
    if spans is None:
        last = ctx.table("orders").placed_at.max().execute()
        queries = [[credited_orders(ctx, days, since=max(since, lo - window),
                                    orders=(lo, hi))]
                   for lo, hi in build_spans(_naive(last), since)]
    else:
        queries = [[credited_orders(ctx, days, since=max(since, lo - window),
                                    orders=(max(since, lo), hi))
                    for lo, hi in spans if hi > since]]
    sqls = []
    for parts in queries:
        if not parts:
            continue
        credited = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
        per_day = credited.group_by(day=credited.placed_at.truncate("D"),
                                    campaign_id=credited.campaign_id).aggregate(
            revenue=credited.revenue.sum())
        sqls.append(str(ibis.to_sql(per_day, dialect="duckdb")))
    return sqls


def _naive(moment: Any) -> datetime | None:
    """A timestamp read back from the store as a naive datetime (None for no orders)."""
    if moment is None or moment != moment:  # NaT
        return None
    if hasattr(moment, "to_pydatetime"):
        moment = moment.to_pydatetime()
    naive: datetime = moment.replace(tzinfo=None)
    return naive


def ensure(con: Any, ctx: MetricContext, credited: Credited, key: str, since: datetime,
           days: int, mark: int) -> KeptCredits | None:
    """The credits `key` (contacts from `since` on, a window of `days`), kept in the store
    and brought up to date: built from every contact when there are none, else the days a
    write logged since credited afresh; saved as current to the log position `mark`.
    None when the store cannot keep them (a store opened read-only, or too old)."""
    import duckdb

    from clientela.kpi.persons import persons_apply

    if not _tables_exist(con):
        return None
    persons = persons_apply(ctx)
    now = datetime.now(UTC).replace(tzinfo=None)
    found = con.execute(f"SELECT 1 FROM {STATES_TABLE} WHERE state_key = ?", [key]).fetchone()
    logged = con.execute(f"SELECT lo, hi FROM {DIRTY_TABLE} WHERE state_key = ?",
                         [key]).fetchall()
    spans = None if found is None else days_to_redo(logged, timedelta(days=days))
    if found is None:
        origin = "built"
    elif spans:
        origin = f"updated for {len(spans)} ranges of days"
    else:
        origin = "kept"
    sqls = _credits_sql(ctx, credited, days, since, spans) if spans is None or spans else []
    try:
        con.begin()
        if found is None:
            con.execute(f"INSERT INTO {STATES_TABLE} VALUES (?, ?, ?, ?, ?)",
                        [key, since, days * 86400, mark, now])
        else:
            for lo, hi in spans or ():
                con.execute(f"DELETE FROM {CREDITS_TABLE} WHERE state_key = ? "
                            "AND day >= ? AND day < ?", [key, lo, hi])
            con.execute(f"UPDATE {STATES_TABLE} SET used_at = ?, watermark = ? "
                        "WHERE state_key = ?", [now, mark, key])
        for sql in sqls:  # one span at a time (see `build_spans`)
            con.execute(f"INSERT INTO {CREDITS_TABLE} (state_key, day, campaign_id, revenue) "
                        f"SELECT ?, day, campaign_id, revenue FROM ({sql}) AS credits", [key])
        con.execute(f"DELETE FROM {DIRTY_TABLE} WHERE state_key = ?", [key])
        con.execute(f"""DELETE FROM {STATES_TABLE} WHERE state_key NOT IN (
                            SELECT state_key FROM {STATES_TABLE}
                            ORDER BY used_at DESC, state_key LIMIT {KEEP})""")
        _drop_orphans(con)
        con.commit()
    except duckdb.Error:
        con.rollback()
        raise
    return KeptCredits(ctx.backend, key, days, persons, origin)
