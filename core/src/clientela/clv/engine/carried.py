"""CLV purchase days and fits carried between warm KPI calls.

After one new day of orders a warm KPI call recomputes the newest period, and predicted
CLV's summary as of its end is built from every purchase day ever (`engine.series`): a
fetch of every valid order, night after night. What a summary adds up per customer
(purchase days, their value in cents, the last day) is a sum and a max, and the first
purchase day is the earliest, so as of an instant `T` that is a local midnight

    counters(end) = counters(T) + the purchase days in [T, end)

exactly: no day straddles `T`, counts are integers and cents are whole numbers in float64
(exact sums in any order below 2**53). With the customer state the warm path carries as
of `T` (`clientela.kpi.carried`), the counters as of `T` are kept in the store per time
zone and reporting currency (`PURCHASE_DAYS_TABLE`), and the newest period's summary is
those plus the orders since: the same arrays, bit for bit, as the fetch of every order
gives, so the fits see the same input. The kept counters go with their state (dropped by
the same touch log).

The fits: a cold series starts its first period's fit from the generic guess and each
later one from the previous period's (`engine.periods`), so a fit as of an instant
depends, in the last bits, on where its series started. Each fit a warm call makes is kept
per chain (`FITS_TABLE`: a model's fits along a series from one start at one grain, for
one state key, zone, currency and unit), with the touch log position it is current to,
and dropped by a write dated before its instant. The next call of the same series starts
its first period where the cold series would have, from the previous period's fit in its
own chain, instead of afresh or from another series' chain. The table is bounded
(`KeptFits.keep`): the chains of a state key no kept state has go, and of the rest only
the KEEP_CHAINS used last stay.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela.clv.engine.series import (
    Counters,
    FloatArray,
    IntArray,
    PurchaseDays,
    empty_counters,
    fetch_purchase_days,
)
from clientela.clv.engine.summary import last_day
from clientela.clv.models.fit import ModelFit
from clientela.kpi.carried import Carried, carried_for
from clientela.kpi.context import MetricContext
from clientela.kpi.localtime import day_number
from clientela.store.touched import FITS_TABLE, PURCHASE_DAYS_TABLE, STATES_TABLE

CARRY_PURCHASE_DAYS = True
"""Off, the purchase days are fetched from every order as before (benchmarks compare)."""
COLUMNS = ("customer_id", "purchases", "cents", "first_day", "first_cents", "last_day")


@dataclass(frozen=True)
class Opening:
    """The counters of every customer with a purchase day before an instant."""

    customer_id: pa.Array
    counters: Counters
    first_day: IntArray
    first_cents: FloatArray


def purchase_days(ctx: MetricContext, *, until: datetime, first_end: datetime
                  ) -> PurchaseDays | None:
    """Every purchase day before `until` for summaries as of `first_end` and later ends
    (`engine.periods`), or None when no customer state is carried into this call (or none
    whose instant is a local midnight before `until`): then the caller reads every order
    its own way. With counters kept at or before the state's instant and no later than
    `first_end`, those plus the days since them; otherwise every purchase day, fetched.
    Either way the state's counters are kept for the next call if they were not yet."""
    carried = carried_for(ctx)
    if (not CARRY_PURCHASE_DAYS or carried is None or carried.as_of > until
            or not _splits_no_day(ctx, carried.as_of)):
        return None
    at = carried.as_of
    found = _latest_kept(ctx, carried)
    usable = found if found is not None and found[0] <= first_end else None
    since, base = usable if usable is not None else (None, None)
    days = fetch_purchase_days(ctx, since=since, until=until)
    if base is not None:
        days = merged(base, days)
    if found is None or found[0] != at:
        _keep(ctx, carried, opening_before(days, day_number(at, ctx.timezone)))
    return days


def _splits_no_day(ctx: MetricContext, at: datetime) -> bool:
    """Whether `at` is a local midnight: no purchase day lies on both sides of it."""
    return day_number(at, ctx.timezone) == last_day(at, ctx.timezone) + 1


def merged(opening: Opening, days: PurchaseDays) -> PurchaseDays:
    """`days` (purchase days since `opening`'s instant) on top of `opening`: customers coded
    in id order over both, as `fetch_purchase_days` codes them."""
    kind = days.customer_id.type
    opened = opening.customer_id.cast(kind)
    placed = _placed_in_order(opened, days.customer_id)
    if placed is None:
        placed = _placed_by_hashing(opened, days.customer_id)
    universe, old, new = placed
    n = len(universe)
    counters = empty_counters(n)
    counters.purchases[old] = opening.counters.purchases
    counters.cents[old] = opening.counters.cents
    counters.last[old] = opening.counters.last
    first_day = np.zeros(n, dtype=np.int64)
    first_cents = np.zeros(n, dtype=np.float64)
    first_day[new], first_cents[new] = days.first_day, days.first_cents
    first_day[old], first_cents[old] = opening.first_day, opening.first_cents  # first ever
    return PurchaseDays(customer_id=universe, code=new[days.code].astype(np.int32),
                        day=days.day, cents=days.cents, first_day=first_day,
                        first_cents=first_cents, opening=counters)


Placed = tuple[pa.Array, IntArray, IntArray]
"""The sorted distinct ids of two id arrays, and where each id of either array is in it."""


def _placed_by_hashing(opened: pa.Array, since: pa.Array) -> Placed:
    both = pa.concat_arrays([opened, since])
    universe = pc.unique(both)
    universe = universe.take(pc.array_sort_indices(universe))
    old = np.asarray(pc.index_in(opened, value_set=universe), dtype=np.int64)
    new = np.asarray(pc.index_in(since, value_set=universe), dtype=np.int64)
    return universe, old, new


def _strictly_increasing(ids: pa.Array) -> bool:
    return len(ids) < 2 or not pc.any(pc.greater_equal(ids[:-1], ids[1:])).as_py()


def _placed_in_order(opened: pa.Array, since: pa.Array) -> Placed | None:
    """`_placed_by_hashing`'s answer when both arrays are already sorted and distinct (the
    kept counters are written and read back in id order, and the days since are coded in id
    order), or None when they are not. At a million customers the hashing costs most of
    the merge (about 0.7 s): here only the few ids since are hashed, and the universe is
    the opening's ids with the new customers' ids sorted in."""
    if not (_strictly_increasing(opened) and _strictly_increasing(since)):
        return None
    at = pc.index_in(opened, value_set=since)  # the few ids since are the hashed side
    kept = np.flatnonzero(np.asarray(pc.is_valid(at), dtype=bool))
    matched = np.asarray(at.take(pa.array(kept)), dtype=np.int64)
    fresh = np.ones(len(since), dtype=bool)
    fresh[matched] = False
    new = np.empty(len(since), dtype=np.int64)
    if not fresh.any():  # every customer since was already counted: the opening's ids
        new[matched] = kept
        return opened, np.arange(len(opened), dtype=np.int64), new
    both = pa.concat_arrays([opened, since.filter(pa.array(fresh))])
    order = np.asarray(pc.array_sort_indices(both), dtype=np.int64)
    position = np.empty(len(both), dtype=np.int64)
    position[order] = np.arange(len(both), dtype=np.int64)
    old = position[:len(opened)]
    new[matched] = old[kept]
    new[np.flatnonzero(fresh)] = position[len(opened):]
    return both.take(pa.array(order)), old, new


def opening_before(days: PurchaseDays, day: int) -> Opening:
    """The counters of `days` before local day number `day` (the customers with a purchase
    day before it)."""
    n = len(days)
    base = days.opening or empty_counters(n)
    inside = days.day < day
    code = days.code[inside]
    purchases = base.purchases + np.bincount(code, minlength=n)
    cents = base.cents + np.bincount(code, weights=days.cents[inside], minlength=n)
    last = base.last.copy()
    last[code] = days.day[inside]  # (code, day) order: each code's last write is its latest
    keep = np.flatnonzero(purchases > 0)
    return Opening(customer_id=days.customer_id.take(pa.array(keep)),
                   counters=Counters(purchases=purchases[keep], cents=cents[keep],
                                     last=last[keep]),
                   first_day=days.first_day[keep], first_cents=days.first_cents[keep])


def _con(carried: Carried) -> Any:
    return carried.backend.con


def _latest_kept(ctx: MetricContext, carried: Carried) -> tuple[datetime, Opening] | None:
    """The latest counters kept at or before the state's instant, for this zone and
    currency, of a state still kept (so nothing before it changed since)."""
    con = _con(carried)
    where = ("p.state_key = ? AND p.timezone = ? AND p.currency = ? AND p.as_of <= ? AND EXISTS "
             f"(SELECT 1 FROM {STATES_TABLE} s WHERE s.state_key = p.state_key "
             "AND s.as_of = p.as_of)")
    args = [carried.key, ctx.timezone, ctx.currency, carried.as_of]
    row = con.execute(f"SELECT max(as_of) FROM {PURCHASE_DAYS_TABLE} p WHERE {where}",
                      args).fetchone()
    if row is None or row[0] is None:
        return None
    at: datetime = row[0]
    # a plain filtered scan (the state's existence was checked above): the rows come back
    # in the order `_keep` wrote them, the customers' id order, which `merged` relies on
    table = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {PURCHASE_DAYS_TABLE} "
                        "WHERE state_key = ? AND timezone = ? AND currency = ? AND as_of = ?",
                        [*args[:3], at]).arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()

    def column(name: str, kind: type) -> Any:
        return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=kind)

    return at, Opening(customer_id=table["customer_id"].combine_chunks(),
                       counters=Counters(purchases=column("purchases", np.int64),
                                         cents=column("cents", np.float64),
                                         last=column("last_day", np.int64)),
                       first_day=column("first_day", np.int64),
                       first_cents=column("first_cents", np.float64))


def _keep(ctx: MetricContext, carried: Carried, opening: Opening) -> None:
    """Keep `opening` as the counters of the state `carried` (nothing when the store cannot
    keep them: the next call fetches every order again)."""
    import duckdb

    con = _con(carried)
    table = pa.table({"customer_id": opening.customer_id,
                      "purchases": opening.counters.purchases,
                      "cents": opening.counters.cents,
                      "first_day": opening.first_day,
                      "first_cents": opening.first_cents,
                      "last_day": opening.counters.last})
    key = [carried.key, carried.as_of, ctx.timezone, ctx.currency]
    try:
        con.begin()
        con.execute(f"DELETE FROM {PURCHASE_DAYS_TABLE} WHERE state_key = ? AND as_of = ? "
                    "AND timezone = ? AND currency = ?", key)
        con.register("_clv_opening", table)
        try:
            con.execute(f"INSERT INTO {PURCHASE_DAYS_TABLE} SELECT ?, ?, ?, ?, "
                        f"{', '.join(COLUMNS)} FROM _clv_opening WHERE EXISTS (SELECT 1 "
                        f"FROM {STATES_TABLE} WHERE state_key = ? AND as_of = ?)",
                        [*key, carried.key, carried.as_of])
        finally:
            con.unregister("_clv_opening")
        con.commit()
    except duckdb.Error:
        con.rollback()


KEEP_CHAINS = 8
"""Chains of kept fits at most (a model's fits along one series, for one start, grain, state
key, time zone, currency and unit), the most recently used: two models each of four
series. A report over the last months starts its series a month later every month, and
the chains of the starts left behind are never read again."""


class KeptFits:
    """The fits of one warm engine call's chain: the kept one a series starts from, and the
    ones it makes, kept when the series is done (from the calling thread; a series' spend
    fits are made on a worker thread).

    A chain is keyed by the series' start and grain besides the state key, zone, currency,
    unit and model: a cold series fits its first period from the generic guess and each
    later one from the previous period's fit, so a fit as of an instant depends, in the last
    bits, on where its series started, and a series from another start must not read it."""

    def __init__(self, ctx: MetricContext, unit: str) -> None:
        self.carried = carried_for(ctx) if CARRY_PURCHASE_DAYS else None
        self.where = (ctx.timezone, ctx.currency, unit)
        self.made: list[tuple[datetime, ModelFit]] = []
        self.read: set[str] = set()
        self._lock = threading.Lock()

    def _key(self, model: str) -> str:
        assert self.carried is not None
        start = self.carried.series_start
        series = ("" if start is None else start.isoformat(), self.carried.series_grain)
        return hashlib.sha256("\x1f".join((self.carried.key, *self.where, model, *series))
                              .encode()).hexdigest()[:32]

    def kept(self, model: str, at: datetime) -> ModelFit | None:
        """The fit of `model` kept as of `at` along this series, if any; none at or before
        the start of the series the warm path answers, whose first fit a cold series makes
        from the generic start."""
        if self.carried is None:
            return None
        start = self.carried.series_start
        if start is not None and at <= start:
            return None
        import duckdb

        key = self._key(model)
        self.read.add(key)
        try:
            row = _con(self.carried).execute(
                f"SELECT fit FROM {FITS_TABLE} WHERE fit_key = ? AND as_of = ?",
                [key, at]).fetchone()
        except duckdb.Error:
            return None
        return None if row is None else _loaded(row[0])

    def made_one(self, fit: ModelFit, at: datetime) -> None:
        if self.carried is not None:
            with self._lock:
                self.made.append((at, fit))

    def keep(self) -> None:
        """Keep every fit made so far (the latest of a model and instant wins), mark the
        chains read or written as used, and drop the fits no later call can read: those
        of a state key no kept state has (a clientela or engine since replaced, orders
        read as persons or not), other than this call's, and those of all but the
        KEEP_CHAINS chains used last."""
        if self.carried is None or not self.made:
            return
        import duckdb

        now = datetime.now(UTC).replace(tzinfo=None)
        state = self.carried.key
        with self._lock:
            made = [(self._key(fit.model), at, fit) for at, fit in self.made]
            self.made.clear()
        rows = [[key, state, at, self.carried.watermark, _dumped(fit), now]
                for key, at, fit in made]
        used = sorted(self.read | {key for key, _, _ in made})
        con = _con(self.carried)
        try:
            con.begin()
            con.executemany(f"INSERT OR REPLACE INTO {FITS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                            rows)
            con.execute(f"UPDATE {FITS_TABLE} SET used_at = ? WHERE fit_key IN "
                        "(SELECT unnest(?))", [now, used])
            con.execute(f"""DELETE FROM {FITS_TABLE} f WHERE f.state_key <> ? AND NOT EXISTS (
                                SELECT 1 FROM {STATES_TABLE} s
                                WHERE s.state_key = f.state_key)""", [state])
            con.execute(f"""DELETE FROM {FITS_TABLE} WHERE fit_key NOT IN (
                                SELECT fit_key FROM {FITS_TABLE} GROUP BY fit_key
                                ORDER BY max(used_at) DESC, fit_key LIMIT {KEEP_CHAINS})""")
            con.commit()
        except duckdb.Error:
            con.rollback()


def _dumped(fit: ModelFit) -> str:
    """The fit as JSON: floats round-trip exactly, so a warm start from it is the one from
    the fit itself."""
    return json.dumps({**fit.to_dict(), "curvature": fit.curvature})


def _loaded(text: str) -> ModelFit:
    found = json.loads(text)
    curvature = found.pop("curvature")
    return ModelFit(**found, curvature=None if curvature is None
                    else tuple(tuple(float(v) for v in row) for row in curvature))
