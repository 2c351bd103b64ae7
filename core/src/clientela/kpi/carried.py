"""Customer state carried forward between warm runs: each customer's valid orders, revenue,
first and last order as of an instant, kept in the store so that the newest period's
point-in-time tables read that state plus the orders placed after it, not every order.

A warm call (`clientela.kpi.warm`) that recomputes only the newest period(s) of a series
needs, for every point-in-time metric, each customer's history as of the period's end and
each customer's first valid order: built from the whole history, they cost a scan of every
order, night after night, although only the last days changed. The history as of an
instant `T` is a per-customer aggregate (count, sum, min, max), so

    history(until) = history(T) combined with the orders placed in [T, until)

exactly: counts and money add, first and last order are the min and max of both parts.
The warm path keeps `history(T)` for `T` the start of the newest period it computed (the
previous kept period's end), and during its engine call `customer_history` and
`first_order_times` use it (`state_for`) whenever `T` is at or before their instant.

A kept state is stale as soon as a write is logged (`clientela.store.touched`) that could
change an order placed before `T`: a touch of `orders` dated at or before `T`, or one that
touches everything (the identity graph, a store replaced). Stale states are dropped each
time the warm cache is read (`drop_stale`, in the same transaction that drops stale
answers). The state is also keyed by the engine's sources and whether orders are read as
persons, so a new clientela or a change of identity resolution never reads an old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clientela.store.touched import (
    EARN_LINKS_TABLE,
    FITS_TABLE,
    GAPS_TABLE,
    LEDGER_TABLE,
    PURCHASE_DAYS_TABLE,
    REDEEM_LINKS_TABLE,
    RESULTS_TABLE,
    ROWS_TABLE,
    STATES_TABLE,
    TOUCHES_TABLE,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

STATE_COLUMNS: tuple[str, ...] = ("customer_id", "orders", "revenue", "first_at", "last_at")
FIRST_ORDER_STATE: dict[str, str] = {"order_id": "first_order_id", "channel": "first_channel",
                                     "store_id": "first_store_id",
                                     "salesperson_id": "first_salesperson_id"}
"""The first order's own columns (`retail.first_orders`) -> their names in the state."""
KEEP = 2
"""States kept per key: the newest, and the one before it (a write dated between the two
leaves the older one usable, and the newer is rebuilt from it)."""
STALE_ENTITIES: tuple[str, ...] = ("orders", "loyalty_events", "identity_links", "*")
"""Touch log entities that can change a customer's valid orders or loyalty ledger
(`clientela.kpi.carried_ledger`): an order or a loyalty event written, the identity graph
changed (orders and events are read as persons), anything replaced wholesale. Customer
rows do not enter the state (a person merged or erased moves the identity graph, which is
logged as `identity_links` when the cache is read)."""


@dataclass(frozen=True)
class Carried:
    """A kept state an engine call may read: on `backend`, keyed `key`, as of `as_of` (naive
    UTC), for orders read as persons or not (`persons`)."""

    backend: Any
    key: str
    as_of: datetime
    persons: bool
    origin: str = "kept"
    """How this call got it: `kept` (found in the store), `carried from <instant>` (an older
    kept state plus the orders since) or `built from every order`."""
    call_start: datetime | None = None
    """Where the engine call reading it starts (naive UTC), when the warm path says so: a call
    starting at or after `as_of` reads the valid orders straight from the store
    (`reads_orders_direct`)."""
    watermark: int = 0
    """The touch log position the call is current to: what the CLV fits it keeps are
    current to (`clientela.clv.engine.carried`)."""
    series_start: datetime | None = None
    """Where the series the warm path answers starts (naive UTC), when it says so: a cold
    series fits its first period from the generic start, so an engine call starting there
    must not start from a kept fit (`clientela.clv.engine.carried.KeptFits.kept`)."""
    series_grain: str = ""
    """The grain of that series: with its start, the instants a cold series chains its
    fits through, so part of the kept fits' key."""


_current: ContextVar[Carried | None] = ContextVar("clientela_carried_state", default=None)

_BY_SERIES_START: set[Callable[..., Any]] = set()
"""The compute functions of the metrics whose answers depend on where their series starts
(`by_series_start`)."""


def by_series_start(compute: Callable[..., Any]) -> None:
    """Declare that the metric computed by `compute` chains its periods from the series'
    start (CLV: each period's fit starts from the previous period's, the first from the
    generic guess), so its answer for a period depends on where the series starts, in the
    last bits: the warm path keeps its answers per series start (`clientela.kpi.warm`).
    The metric's own module declares it, so the engine imports no metric."""
    _BY_SERIES_START.add(compute)


def answers_by_series_start(compute: Callable[..., Any]) -> bool:
    """Whether `compute`'s answers are kept per series start (`by_series_start`)."""
    return compute in _BY_SERIES_START


@contextmanager
def carrying(carried: Carried | None) -> Iterator[None]:
    """Let the engine calls made inside read `carried` (the warm path's engine call)."""
    token = _current.set(carried)
    try:
        yield
    finally:
        _current.reset(token)


def carried_for(ctx: MetricContext, until: datetime | None = None) -> Carried | None:
    """The carried state this engine call may read for a question about `until` (None: the
    whole history) or later, or None: outside a warm call, on another backend, for a state
    later than `until`, or with persons read otherwise."""
    from clientela.kpi.persons import persons_apply

    carried = _current.get()
    if carried is None or ctx.backend is not carried.backend:
        return None
    if until is not None and carried.as_of > until:
        return None
    if persons_apply(ctx) != carried.persons:
        return None
    return carried


def state_for(ctx: MetricContext, until: datetime | None = None, *,
              first_orders: bool = False) -> tuple[ir.Table, datetime] | None:
    """The carried state usable for a history as of `until` (None: the whole history), as
    (rows with STATE_COLUMNS, its as-of instant), or None (see `carried_for`). With
    `first_orders`, the rows are each customer's first order instead (customer_id, first_at
    and the order's columns, named as in `retail.first_orders`)."""
    from clientela.kpi.built import built_once

    carried = carried_for(ctx, until)
    if carried is None:
        return None

    def build() -> ir.Table:
        rows = ctx.stored(ROWS_TABLE)
        rows = rows.filter((rows.state_key == carried.key) & (rows.as_of == carried.as_of))
        if first_orders:
            return rows.select("customer_id", "first_at", **{
                column: rows[kept] for column, kept in FIRST_ORDER_STATE.items()})
        return rows.select(*STATE_COLUMNS)

    # asked by every history and first-orders reader of a warm call: built once
    key = f"state_for|{carried.key}|{carried.as_of}|{first_orders}"
    return built_once(ctx, key, build), carried.as_of


READ_ORDERS_DIRECT = True
"""In an engine call starting at a carried state, read the valid orders straight from the
store table (`reads_orders_direct`) instead of writing them all out first. Only
`benchmarks/kpis_warm.py` and a test turn it off, to time or show the baseline in the same
process; either way the answers are the same."""


def reads_orders_direct(ctx: MetricContext) -> bool:
    """Whether `retail.valid_orders` should read the store's orders table directly in this
    engine call rather than write every valid order out once and share it.

    A catalogue call writes the valid orders of the whole history out once (9.6M rows at
    10M orders, seconds), because most of its metrics read most of them. A warm call that
    starts at or after the state's instant (one new day: the newest period) reads the
    histories and first orders from the state, so most of its readers ask for the newest
    period's orders alone, which a scan of the store table finds by its row groups' date
    ranges (a few hundredths of a second at 10M orders); the few that read every order
    (the gaps between orders, the CLV summaries) scan it once each, which costs less than
    the copy. With orders read as persons the copy stays: it holds the identity join,
    which then runs once."""
    from clientela.kpi.persons import persons_apply

    carried = _current.get()
    return (READ_ORDERS_DIRECT and carried is not None and ctx.backend is carried.backend
            and carried.call_start is not None and carried.call_start >= carried.as_of
            and not carried.persons and not persons_apply(ctx))


PREVIOUS_FROM_STATE = True
"""Take each new order's previous order from the carried state (`previous_orders`). Only a
test turns it off, to show the baseline; either way the answers are the same."""


def previous_orders(ctx: MetricContext) -> ir.Table | None:
    """The valid orders of known customers placed in [ctx.start, ctx.end), each with the
    time of the customer's previous valid order (`prev_at`, null for a first order): the
    columns `interpurchase_days` reads (customer_id, placed_at, prev_at), from the carried
    state, or None when no state is carried from ctx.start or before.

    Cold, that previous order is a window over every order (each customer's orders sorted
    by time; 9.6M at 10M orders). With a state as of `T` <= ctx.start, the previous of an
    order placed at or after `T` is the one before it among the orders placed since `T`,
    and for the customer's first of those, the state's last order (`last_at`, the latest
    valid order before `T`): every order before `T` comes before every order after it, so
    it is the same time the window finds, ties at one instant included (they are all
    after `T`; see `previous_time`)."""
    if not PREVIOUS_FROM_STATE:
        return None
    found = state_for(ctx, ctx.start)
    if found is None:
        return None
    orders = _previous_since_state(ctx, found, until=ctx.end)
    return orders.filter(orders.placed_at >= ctx.start)


def _previous_since_state(ctx: MetricContext, state: tuple[ir.Table, datetime], *,
                          until: datetime) -> ir.Table:
    """`_since_with_previous` of the carried state, shared by the call's readers: in the
    warm newest month interpurchase_days and return_probability ask for the same orders,
    whose window and join with the state then run once."""
    key = f"previous_since_state|{state[1].isoformat()}|{until.isoformat()}"
    return ctx.shared(key, lambda: _since_with_previous(ctx, state, until=until),
                      transient=True)


def previous_time(orders: ir.Table) -> ir.Value:
    """Each order's customer's previous order time (`placed_at`; null for the first), for
    a reader that keeps no column telling two orders of one instant apart (the order id).

    The window orders by time alone: orders tied at one instant come in any order, but the
    times in each customer's sorted run are the same whatever their order, so the rows
    (customer, time, previous time) are the same rows. Ordering by the order id as well,
    as a reader of both the previous and the next order must (`_neighbours`: their two
    windows must order ties alike), made the database read and sort the id strings:
    about a fifth of the new orders' query at 1M orders."""
    import ibis

    return orders.placed_at.lag().over(
        ibis.window(group_by=orders.customer_id, order_by=orders.placed_at))


def _since_with_previous(ctx: MetricContext, state: tuple[ir.Table, datetime], *,
                         until: datetime) -> ir.Table:
    """The valid orders of known customers placed from `state`'s instant to `until`, each
    with its previous valid order's time `prev_at` (see `previous_orders`)."""
    import ibis
    import ibis.expr.datatypes as dt

    from clientela.kpi.retail import valid_orders

    rows, since = state
    orders = valid_orders(ctx, since=since, until=until, amounts=())
    orders = orders.filter(orders.customer_id.notnull())
    orders = orders.select("customer_id", "placed_at", _lag=previous_time(orders))
    last = rows.select(_cid=rows.customer_id, _last=rows.last_at.cast(orders.placed_at.type()))
    joined = orders.left_join(last, orders.customer_id == last._cid)
    return joined.select("customer_id", "placed_at", prev_at=ibis.coalesce(
        joined._lag, joined._last).cast(dt.Timestamp(nullable=True)))


def gap_days(ctx: MetricContext) -> ir.Table | None:
    """Every gap between a customer's consecutive valid orders before ctx.as_of, and the
    open one after each customer's last, counted by length: `days` (whole days, as
    `days_between` counts them, to ctx.as_of for an open gap), `closed` and `_n`, how many.
    What `return_probability` reads, from the carried state; None without a state as of
    ctx.as_of or before, or with a slice (whose gaps need their customers).

    Cold, each order's next one is a window over every order. With a state as of `T`: the
    gaps closed before `T` are the state's histogram (`GAPS_TABLE`), those closed since are
    the orders since `T` with their previous order (`_since_with_previous`), and the open
    ones run from each customer's last order (the customer history as of ctx.as_of, itself
    the state plus the orders since). Every gap is in exactly one of the three."""
    import ibis

    from clientela.kpi.history import customer_history
    from clientela.kpi.localtime import days_between

    if not PREVIOUS_FROM_STATE or ctx.by is not None:
        return None
    found = state_for(ctx, ctx.as_of)
    carried = _current.get()
    if found is None or carried is None:
        return None
    kept = ctx.stored(GAPS_TABLE)
    kept = kept.filter((kept.state_key == carried.key) & (kept.as_of == carried.as_of))
    one = ibis.literal(1, type="int64")
    since = _previous_since_state(ctx, found, until=ctx.as_of)
    since = since.filter(since.prev_at.notnull())
    history = customer_history(ctx, until=ctx.as_of)
    parts = [
        kept.select(days=kept.days.cast("int64"), closed=ibis.literal(True),
                    _n=kept.gaps.cast("int64")),
        since.select(days=days_between(since.prev_at, since.placed_at).cast("int64"),
                     closed=ibis.literal(True), _n=one),
        history.select(days=days_between(history.last_at, ctx.as_of).cast("int64"),
                       closed=ibis.literal(False), _n=one),
    ]
    both = ibis.union(*parts, distinct=False)
    return both.group_by(["days", "closed"]).aggregate(_n=both._n.sum())


def _closed_gaps(ctx: MetricContext, at: datetime, older: Carried | None) -> ir.Table:
    """The histogram `GAPS_TABLE` keeps for a state as of `at` (days, gaps): from a window
    over every order before `at`, or from the `older` state's histogram and the gaps closed
    between its instant and `at`."""
    import ibis

    from clientela.kpi.localtime import days_between
    from clientela.kpi.retail import valid_orders

    if older is None:
        orders = valid_orders(ctx, until=at, amounts=())
        orders = orders.filter(orders.customer_id.notnull())
        closed = orders.select("placed_at", prev_at=previous_time(orders))
    else:
        with carrying(older):
            found = state_for(ctx, at)
        assert found is not None  # the older state is as of `at` or before
        closed = _since_with_previous(ctx, found, until=at)
    closed = closed.filter(closed.prev_at.notnull())
    gaps = closed.select(days=days_between(closed.prev_at, closed.placed_at).cast("int64"),
                         _n=ibis.literal(1, type="int64"))
    if older is not None:
        kept = ctx.stored(GAPS_TABLE)
        kept = kept.filter((kept.state_key == older.key) & (kept.as_of == older.as_of))
        gaps = ibis.union(gaps, kept.select(days=kept.days.cast("int64"),
                                            _n=kept.gaps.cast("int64")), distinct=False)
    return gaps.group_by("days").aggregate(gaps=gaps._n.sum())


def _tables_exist(con: Any) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                      [STATES_TABLE]).fetchone()
    return bool(row and row[0])


def drop_stale(con: Any, mark: int) -> None:
    """Drop the states a write logged up to `mark` may have changed (inside the warm
    cache's refresh transaction, before the log is trimmed). While no answer is kept the
    store logs nothing, so then every state goes: writes made meanwhile went unseen."""
    if not _tables_exist(con):
        return
    if con.execute(f"SELECT 1 FROM {RESULTS_TABLE} LIMIT 1").fetchone() is None:
        con.execute(f"DELETE FROM {FITS_TABLE}")
        dropped = con.execute(f"DELETE FROM {STATES_TABLE}").fetchone()
    else:
        entities = ", ".join(f"'{e}'" for e in STALE_ENTITIES)
        # a fit as of an instant read the orders before it; a state, those up to it
        con.execute(f"""DELETE FROM {FITS_TABLE} f WHERE EXISTS (
                            SELECT 1 FROM {TOUCHES_TABLE} t
                            WHERE t.seq > f.watermark AND t.seq <= ? AND t.entity IN ({entities})
                              AND (t.lo IS NULL OR t.lo < f.as_of))""", [mark])
        dropped = con.execute(f"""DELETE FROM {STATES_TABLE} s WHERE EXISTS (
                            SELECT 1 FROM {TOUCHES_TABLE} t
                            WHERE t.seq > s.watermark AND t.seq <= ? AND t.entity IN ({entities})
                              AND (t.lo IS NULL OR t.lo <= s.as_of))""", [mark]).fetchone()
    if dropped and dropped[0]:  # their rows go too (a scan of every kept row: only then)
        _drop_orphans(con)


def _drop_orphans(con: Any) -> None:
    for table in (ROWS_TABLE, GAPS_TABLE, PURCHASE_DAYS_TABLE, LEDGER_TABLE,
                  REDEEM_LINKS_TABLE, EARN_LINKS_TABLE):
        con.execute(f"""DELETE FROM {table} r WHERE NOT EXISTS (
                            SELECT 1 FROM {STATES_TABLE} s
                            WHERE s.state_key = r.state_key AND s.as_of = r.as_of)""")


def ensure(con: Any, ctx: MetricContext, key: str, at: datetime, mark: int) -> Carried | None:
    """The state `key` as of `at`, kept in the store: found, or built from the latest kept
    state before `at` plus the orders placed since (from every order when there is none),
    with the loyalty ledger's (`clientela.kpi.carried_ledger`) likewise and the redemptions
    and earns across `at` (`clientela.kpi.carried_redemptions`, `clientela.kpi.carried_earns`,
    from the store as it is), saved as
    current to the log position `mark`; of the states before it, all but the KEEP - 1
    newest go.
    None when the store cannot keep it (a store opened read-only, or too old)."""
    import duckdb
    import ibis

    from clientela.kpi.carried_earns import EARN_LINK_COLUMNS, earn_links
    from clientela.kpi.carried_ledger import LEDGER_COLUMNS, ledger_state
    from clientela.kpi.carried_redemptions import LINK_COLUMNS, redeem_links
    from clientela.kpi.history import history_since
    from clientela.kpi.persons import persons_apply
    from clientela.kpi.retail import first_orders_since

    if not _tables_exist(con):
        return None
    persons = persons_apply(ctx)
    row = con.execute(f"SELECT max(as_of) FROM {STATES_TABLE} WHERE state_key = ? AND as_of <= ?",
                      [key, at]).fetchone()
    latest: datetime | None = row[0] if row else None
    if latest == at:
        return Carried(ctx.backend, key, at, persons, watermark=mark)
    origin = ("built from every order" if latest is None
              else f"carried from {latest.isoformat()}")
    found = Carried(ctx.backend, key, at, persons, origin, watermark=mark)
    base = first = older = None
    if latest is not None:
        older = Carried(ctx.backend, key, latest, persons)
        with carrying(older):
            base, first = state_for(ctx, at), state_for(ctx, at, first_orders=True)
    history = history_since(ctx, until=at, state=base)
    # a customer with an order before `at` has her first order ever before it
    firsts = first_orders_since(ctx, first, until=at)
    firsts = firsts.select(_fcid=firsts.customer_id, **{
        kept: firsts[column] for column, kept in FIRST_ORDER_STATE.items()})
    joined = history.left_join(firsts, history.customer_id == firsts._fcid)
    expr = joined.select(*STATE_COLUMNS, *FIRST_ORDER_STATE.values())
    sql = ibis.to_sql(expr, dialect="duckdb")
    columns = ", ".join([*STATE_COLUMNS, *FIRST_ORDER_STATE.values()])
    gaps_sql = ibis.to_sql(_closed_gaps(ctx, at, older), dialect="duckdb")
    ledger = ", ".join(LEDGER_COLUMNS)
    ledger_sql = (ibis.to_sql(ledger_state(ctx, at, older), dialect="duckdb")
                  if ctx.has("loyalty_events") else None)
    links = ", ".join(LINK_COLUMNS)
    links_sql = (ibis.to_sql(redeem_links(ctx, at), dialect="duckdb")
                 if ctx.has("loyalty_events") and ctx.has("orders") else None)
    earns = ", ".join(EARN_LINK_COLUMNS)
    earns_sql = (ibis.to_sql(earn_links(ctx, at), dialect="duckdb")
                 if links_sql is not None else None)
    try:
        con.begin()
        con.execute(f"INSERT INTO {ROWS_TABLE} (state_key, as_of, {columns}) "
                    f"SELECT ?, ?, {columns} FROM ({sql}) AS state", [key, at])
        con.execute(f"INSERT INTO {GAPS_TABLE} (state_key, as_of, days, gaps) "
                    f"SELECT ?, ?, days, gaps FROM ({gaps_sql}) AS gaps", [key, at])
        if ledger_sql is not None:
            con.execute(f"INSERT INTO {LEDGER_TABLE} (state_key, as_of, {ledger}) "
                        f"SELECT ?, ?, {ledger} FROM ({ledger_sql}) AS ledger", [key, at])
        if links_sql is not None:
            con.execute(f"INSERT INTO {REDEEM_LINKS_TABLE} (state_key, as_of, {links}) "
                        f"SELECT ?, ?, {links} FROM ({links_sql}) AS links", [key, at])
        if earns_sql is not None:
            con.execute(f"INSERT INTO {EARN_LINKS_TABLE} (state_key, as_of, {earns}) "
                        f"SELECT ?, ?, {earns} FROM ({earns_sql}) AS earns", [key, at])
        con.execute(f"INSERT INTO {STATES_TABLE} VALUES (?, ?, ?, ?)",
                    [key, at, mark, datetime.now(UTC).replace(tzinfo=None)])
        # the KEEP newest up to `at` stay (`at` among them: this call reads it), and any later
        con.execute(f"""DELETE FROM {STATES_TABLE} s WHERE state_key = ? AND as_of < (
                            SELECT min(as_of) FROM (SELECT as_of FROM {STATES_TABLE}
                            WHERE state_key = ? AND as_of <= ? ORDER BY as_of DESC
                            LIMIT {KEEP}))""",
                    [key, key, at])
        _drop_orphans(con)
        con.commit()
    except duckdb.Error:
        con.rollback()
        raise
    return found
