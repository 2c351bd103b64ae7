"""Warm KPI runs: a period computed once is kept in the store and reused until a write
touches what its answer read.

`compute(store, ..., reuse=True)` lands here. Each metric's answer for each period is
kept in the store's `kpi_results` table, keyed by the metric, its parameters, the slice,
the grain, the time zone, the reporting currency, a fixed as-of instant, the period and
the metric's catalogue version (`catalogue_version`). With it are kept the range of record
dates the answer reads (`Metric.depends_on`, `Metric.reads_ahead`) and the store's touch
log position when it was computed. A later call first drops every kept answer that a
logged write touched (`clientela.store.touched`), then reuses the rest and asks the
engine, cold, for the periods that are missing: one call per contiguous run of periods,
which for a nightly load is the newest period alone. Those calls read each customer's
history as of the newest period's start from the store too (`clientela.kpi.carried`), plus
the orders placed since, instead of every order.

Nothing here is engine-specific: the engine is asked through its public `compute`, and the
cache lives next to the data in the DuckDB store. A bare Ibis backend, a comparison, the
`segment` slice (whose segments are drawn as of the series' last day) and a store opened
read-only are answered cold.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from clientela.kpi import campaign_credits
from clientela.kpi.campaign_credits import KeptCredits, crediting
from clientela.kpi.carried import (
    Carried,
    answers_by_series_start,
    carrying,
    drop_stale,
    ensure,
)
from clientela.kpi.context import CUSTOMER_SLICES, MetricContext, TableCache
from clientela.kpi.periods import Bound, Period, buckets, parse_bound, zone
from clientela.kpi.result import KpiResult
from clientela.metrics.api import Metric
from clientela.store.touched import (
    CAMPAIGNS,
    CAMPAIGNS_TOUCHED_TABLE,
    CUSTOMERS,
    RESULTS_TABLE,
    TOUCHES_TABLE,
    identity_changed,
    watermark,
)

log = logging.getLogger(__name__)

CARRY_STATE = True
"""Carry each customer's history forward between warm calls (`clientela.kpi.carried`).
Only `benchmarks/kpis_warm.py` turns it off, to time its baseline in the same process;
either way the answers are the same."""

NARROW_CAMPAIGNS = True
"""Recompute a `campaigns` answer (campaign ROI) only for the periods of the campaigns a
write reached. Only `benchmarks/kpis_warm.py` turns it off, to time its baseline (every
period recomputed after any dated write, as a `depends_on="all"` answer) in the same
process; either way the answers are the same."""

KEEP_CREDITS = True
"""Keep campaign ROI's credits per day in the store and credit afresh only the days a write
changed (`clientela.kpi.campaign_credits`). Only `benchmarks/kpis_warm.py` turns it off, to
time its baseline (every contact since the series' start joined with its orders) in the
same process; either way the answers are the same."""

KEEP_SERIES_STARTS = 4
"""Series starts kept per answer otherwise alike (metric, parameters, slice, grain, zone,
currency, as-of and catalogue version), the most recently used: a CLV or campaign ROI
answer is kept per series start, and a report's window, whose start moves on every month,
would otherwise add a series every month that no later call reads. Four, as campaign ROI's
kept credits (`campaign_credits`) and the CLV chains (two models each of four series)."""

UNCACHED_SLICES = ("segment",)
"""Slices answered cold: the `segment` slice draws every period's segments as of the series'
last day, so one period's answer depends on the range asked for."""


@dataclass
class WarmReport:
    """What the last warm call did, for the benchmark and the tests."""

    reused: dict[str, list[str]] = field(default_factory=dict)
    """Metric -> labels of the periods taken from the store."""
    computed: dict[str, list[str]] = field(default_factory=dict)
    """Metric -> labels of the periods computed (and kept)."""
    cold: str | None = None
    """Why the call was answered cold, if it was."""
    carried: str | None = None
    """The customer state the engine calls read (`clientela.kpi.carried`): its as-of
    instant and how it was obtained; None when none was carried."""
    credits: str | None = None
    """How campaign ROI's kept credits were obtained (`clientela.kpi.campaign_credits`);
    None when none were read."""


last_report = WarmReport()


@lru_cache(maxsize=256)
def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def _engine_digest() -> str:
    """The KPI engine's and the built-in metrics' sources: the conventions every metric
    shares (valid orders, revenue, periods) live there."""
    here = Path(__file__).resolve().parent
    files = sorted([*here.glob("*.py"), *(here.parent / "metrics").glob("*.py")])
    return hashlib.sha256("".join(_file_digest(str(f)) for f in files).encode()).hexdigest()


def catalogue_version(metric: Metric) -> str:
    """A digest of everything that defines `metric`'s answers: clientela's version, the
    engine's sources, the metric's declared fields and parameter schema, and the source file
    of its compute function. A changed metric (or a new clientela) gets a new version, and
    its kept answers are no longer found.

    Worked out once per process for the same fields (`_versioned`): the sources do not
    change under a running process (their digests are read once), and a metric changed in
    a declared field or given another compute function is another key."""
    fields = _versioned(metric)
    try:
        return _VERSIONS[fields]
    except TypeError:  # a field that cannot be hashed: worked out each time
        return _catalogue_version(metric)
    except KeyError:
        version = _VERSIONS[fields] = _catalogue_version(metric)
        return version


_VERSIONS: dict[tuple[Any, ...], str] = {}


def _versioned(metric: Metric) -> tuple[Any, ...]:
    """What `metric`'s catalogue version reads, but for the sources: clientela's version and
    the metric's fields."""
    import clientela

    return (clientela.__version__, metric.name, metric.unit, metric.params, metric.needs,
            metric.reads_if_present, metric.slices, metric.measures, metric.itemized,
            metric.series, metric.depends_on, metric.compute)


def _catalogue_version(metric: Metric) -> str:
    import clientela

    fn = metric.compute
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    source = getattr(module, "__file__", None) if module else None
    try:
        code = inspect.getsource(fn)
    except (OSError, TypeError):
        code = repr(fn)
    parts = [
        clientela.__version__, _engine_digest(), metric.name, metric.unit,
        json.dumps(metric.params.model_json_schema(), sort_keys=True, default=str),
        repr(metric.needs), repr(metric.reads_if_present), repr(metric.slices),
        repr(metric.measures), repr(metric.itemized), repr(metric.series), metric.depends_on,
        code, _file_digest(source) if source else "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Key:
    metric: Metric
    params: BaseModel
    columns: tuple[str, ...]
    """metric, params, slice, grain, timezone, currency, as_of, catalogue_version."""
    series_start: str = ""
    """For a `campaigns` or CLV answer, where the series starts (see `_series_start`); part
    of the digest only, the stored columns stay those above."""

    @property
    def digest(self) -> str:
        parts = (*self.columns, self.series_start) if self.series_start else self.columns
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _series_start(metric: Metric, periods: Sequence[Period]) -> str:
    """A `campaigns` answer credits the contacts made from its series' start on
    (`_with_earlier_contacts`): a campaign's contact dated before its start, and before the
    series', is in a series that starts earlier and not in this one. A CLV answer comes
    from a fit started from the previous period's, back to the series' start
    (`carried.by_series_start`), which another start changes in the last bits. So such
    answers are kept per series start, and a series from another start does not reuse
    them; every other answer is the same whatever the series' start (empty)."""
    keyed = metric.depends_on == "campaigns" or answers_by_series_start(metric.compute)
    return periods[0].start.isoformat() if keyed and periods else ""


def _reads(metric: Metric, params: BaseModel, period: Period, fixed_as_of: datetime | None
           ) -> tuple[datetime | None, datetime | None]:
    """[from, until): the naive UTC dates of the records the period's answer reads (None:
    unbounded); for a `campaigns` answer, the period itself (its campaigns are those
    started in it, see `_window_seconds`)."""
    if metric.depends_on == "campaigns":
        return period.start_utc, period.end_utc
    if metric.depends_on not in ("period", "history"):
        return None, None
    ahead = metric.reads_ahead(params) if metric.reads_ahead else timedelta()
    until = max(period.end_utc, fixed_as_of or period.end_utc) + ahead
    return (period.start_utc if metric.depends_on == "period" else None), until


def _reads_table(metric: Metric, table: str) -> bool:
    """Whether `metric`'s answers read `table`'s rows, required or when present: a write of
    those rows, which carries no date, reaches every period of such answers."""
    return table in metric.needs or table in metric.reads_if_present


def _window_seconds(metric: Metric, params: BaseModel) -> int | None:
    """For a `campaigns` answer, how long after each contact of its campaigns it reads
    orders (`Metric.reads_ahead`), in seconds; None for every other answer."""
    if metric.depends_on != "campaigns":
        return None
    ahead = metric.reads_ahead(params) if metric.reads_ahead else timedelta()
    return int(ahead.total_seconds())


_TOUCHED = f"""CREATE OR REPLACE TEMP TABLE _warm_touched AS
    SELECT entity = '{CUSTOMERS}' AS customers, entity = '{CAMPAIGNS}' AS campaigns,
           min(lo) AS lo, max(hi) AS hi
    FROM {TOUCHES_TABLE}
    WHERE seq > (SELECT coalesce(min(watermark), 0) FROM {RESULTS_TABLE}) AND seq <= ?
    GROUP BY customers, campaigns, lo IS NULL OR hi IS NULL, date_trunc('day', lo)"""
"""The touches logged since the oldest kept answer, merged per UTC day (a big import logs
a day once per batch): the day's hull, which covers every instant logged in it. Customer
and campaign rows carry no date: logged by entity, they reach the answers that read them."""

_STALE = """EXISTS (SELECT 1 FROM _warm_touched t WHERE
    CASE WHEN t.customers THEN r.reads_customers
    WHEN t.campaigns THEN r.reads_campaigns
    WHEN r.reads_window_seconds IS NOT NULL THEN t.lo IS NULL OR t.hi IS NULL
    ELSE (t.lo IS NULL OR r.reads_until IS NULL OR t.lo < r.reads_until)
     AND (t.hi IS NULL OR r.reads_from IS NULL OR t.hi >= r.reads_from) END)"""
"""A kept answer (`r`) that a write logged since has touched (every kept answer is current
to the same log position, or an older one, which makes this conservative). A `campaigns`
answer is matched here only by a write without a date (a campaign row: it reads
campaigns); `_CAMPAIGNS_REACHED` does the rest."""

_CAMPAIGNS_REACHED = f"""CREATE OR REPLACE TEMP TABLE _warm_reached AS
    WITH windows AS (SELECT DISTINCT reads_window_seconds AS w FROM {RESULTS_TABLE}
                     WHERE reads_window_seconds IS NOT NULL),
    dated AS (SELECT lo, hi FROM _warm_touched
              WHERE NOT customers AND lo IS NOT NULL AND hi IS NOT NULL),
    reached AS (
        SELECT DISTINCT w.w, k.campaign_id
        FROM windows w, touches k, dated t
        WHERE k.campaign_id IS NOT NULL AND k.occurred_at <= t.hi
          AND k.occurred_at + to_seconds(w.w) > t.lo
          -- the same bounds once more (`_DATED_SPAN`), as parameters: constants the scan
          -- of touches filters by (as subqueries they were a join with every contact)
          AND k.occurred_at <= ? AND k.occurred_at > ?
        UNION
        SELECT w.w, l.campaign_id FROM windows w, {CAMPAIGNS_TOUCHED_TABLE} l
        WHERE l.seq > (SELECT coalesce(min(watermark), 0) FROM {RESULTS_TABLE}) AND l.seq <= ?)
    SELECT DISTINCT r.w, CAST(c.started_at AS TIMESTAMP) AS started_at
    FROM reached r JOIN campaigns c ON c.campaign_id = r.campaign_id"""
"""The campaigns a write logged since has reached, per attribution window, by their start
(its parameters: `_DATED_SPAN`'s end and start, then the log position):

- a dated write (an order, a touch, anything dated) reaches each campaign with a contact
  at or before its instant whose window is still open then: an order there may be credited
  to that contact, and a contact there may take the credit of an order from it (or give
  it back);
- a write of touches reaches the campaigns of the touches it changed, before and after
  (logged by id, since a contact may be dated anywhere).

The contacts are read as the store holds them now: one that a write moved, added or
removed is itself logged by campaign, so its campaign is reached either way."""

_DATED_SPAN = f"""SELECT max(hi), min(lo) - to_seconds((SELECT max(reads_window_seconds)
                                                 FROM {RESULTS_TABLE}))
    FROM _warm_touched WHERE NOT customers AND lo IS NOT NULL AND hi IS NOT NULL"""
"""The instants of the contacts a dated write logged since can reach: from the earliest
logged instant less the longest attribution window kept, to the latest (NULL when no
dated write was logged)."""

_CAMPAIGN_STALE = """r.reads_window_seconds IS NOT NULL AND EXISTS (
    SELECT 1 FROM _warm_reached c WHERE c.w = r.reads_window_seconds
      AND c.started_at >= r.reads_from AND c.started_at < r.reads_until)"""
"""A kept `campaigns` answer one of whose campaigns (started in its period) was reached."""


def _refresh(con: Any) -> int:
    """Drop the stale answers, mark the rest current, trim the touch log; returns the log
    position every kept answer is now current to. One transaction."""
    con.begin()
    try:
        identity_changed(con)
        mark = watermark(con)
        drop_stale(con, mark)
        campaign_credits.note_writes(con, mark)
        con.execute(_TOUCHED, [mark])
        con.execute(f"DELETE FROM {RESULTS_TABLE} r WHERE {_STALE}")
        if NARROW_CAMPAIGNS:
            hi, lo = con.execute(_DATED_SPAN).fetchone()
            con.execute(_CAMPAIGNS_REACHED, [hi, lo, mark])
            con.execute(f"DELETE FROM {RESULTS_TABLE} r WHERE {_CAMPAIGN_STALE}")
            con.execute("DROP TABLE _warm_reached")
        else:
            con.execute(f"""DELETE FROM {RESULTS_TABLE} WHERE reads_window_seconds IS NOT NULL
                            AND EXISTS (SELECT 1 FROM _warm_touched WHERE NOT customers)""")
        con.execute("DROP TABLE _warm_touched")
        con.execute(f"UPDATE {RESULTS_TABLE} SET watermark = ? WHERE watermark < ?", [mark, mark])
        con.execute(f"DELETE FROM {TOUCHES_TABLE} WHERE seq <= ?", [mark])
        con.execute(f"DELETE FROM {CAMPAIGNS_TOUCHED_TABLE} WHERE seq <= ?", [mark])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return mark


def _load(con: Any, keys: Sequence[_Key]) -> dict[tuple[str, datetime, datetime], list[Any]]:
    rows = con.execute(f"""SELECT result_key, period_start, period_end, answer
                           FROM {RESULTS_TABLE} WHERE result_key IN (SELECT unnest(?))""",
                       [[k.digest for k in keys]]).fetchall()
    return {(str(key), start, end): json.loads(answer) for key, start, end, answer in rows}


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive indexes, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _with_earlier_contacts(con: Any, periods: Sequence[Period], missing: list[int]
                           ) -> list[int]:
    """`missing` periods of a `campaigns` answer as one run, widened back to the period of
    their campaigns' earliest contact (not before the first period).

    Such an answer counts the contacts made from the engine call's start on, so for a warm
    recompute to equal the cold series its call must start where the series would have
    read them from. And most of its cost is the one join of every contact since the call's
    start with the orders in its window, whatever the number of periods: one run from the
    earliest missing period costs less than one engine call per gap between them."""
    if not missing:
        return missing
    missing = list(range(missing[0], missing[-1] + 1))
    rows = con.execute("""
        SELECT b.i, min(k.occurred_at)
        FROM (SELECT unnest(?) AS i, unnest(?) AS lo, unnest(?) AS hi) b
        JOIN campaigns c ON c.started_at >= b.lo AND c.started_at < b.hi
        JOIN touches k ON k.campaign_id = c.campaign_id
        GROUP BY b.i""", [missing, [periods[i].start_utc for i in missing],
                          [periods[i].end_utc for i in missing]]).fetchall()
    starts = [period.start_utc for period in periods]
    widened = set(missing)
    for i, earliest in rows:
        if earliest is not None:
            widened.update(range(max(0, bisect_right(starts, earliest) - 1), i))
    return sorted(widened)


def _compact(rows: Sequence[Mapping[str, Any]], by: str | None) -> list[list[Any]]:
    return [[row.get(by) if by else None, row["item"], row["measure"], row["value"]]
            for row in rows]


_ENTRY_SCHEMA = pa.schema([
    *[(n, pa.string()) for n in ("result_key", "metric", "params", "slice", "grain", "timezone",
                                 "currency", "as_of", "catalogue_version")],
    ("period_start", pa.timestamp("us")), ("period_end", pa.timestamp("us")),
    ("reads_from", pa.timestamp("us")), ("reads_until", pa.timestamp("us")),
    ("reads_customers", pa.bool_()), ("reads_campaigns", pa.bool_()),
    ("reads_window_seconds", pa.int64()),
    ("watermark", pa.int64()), ("answer", pa.string()),
    ("computed_at", pa.timestamp("us")),
])


def _save(con: Any, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    table = pa.Table.from_pylist(entries, schema=_ENTRY_SCHEMA)
    con.register("_warm_entries", table)
    try:
        con.execute(f"INSERT OR REPLACE INTO {RESULTS_TABLE} BY NAME SELECT * FROM _warm_entries")
    finally:
        con.unregister("_warm_entries")


def _bound(con: Any, keys: Sequence[_Key]) -> None:
    """Mark the answers of `keys` used by this call and drop those no later call reads: of
    each metric asked, the answers of any other catalogue version (a clientela, an engine or
    a metric definition since replaced), and, per answer otherwise alike, all but the
    KEEP_SERIES_STARTS series starts used last (`KEEP_SERIES_STARTS`). A call is counted
    rather than timed, so two calls in the same instant are still ordered."""
    (use,) = con.execute(f"SELECT coalesce(max(last_used), 0) + 1 FROM {RESULTS_TABLE}"
                         ).fetchone()
    con.execute(f"UPDATE {RESULTS_TABLE} SET last_used = ? WHERE result_key IN "
                "(SELECT unnest(?))", [use, [k.digest for k in keys]])
    con.execute(f"""DELETE FROM {RESULTS_TABLE} r WHERE EXISTS (
                        SELECT 1 FROM (SELECT unnest(?) AS metric, unnest(?) AS version) c
                        WHERE c.metric = r.metric AND c.version <> r.catalogue_version)""",
                [[k.columns[0] for k in keys], [k.columns[-1] for k in keys]])
    alike = "metric, params, slice, grain, timezone, currency, as_of, catalogue_version"
    con.execute(f"""DELETE FROM {RESULTS_TABLE} WHERE result_key IN (
                        SELECT result_key FROM (
                            SELECT result_key, row_number() OVER (
                                PARTITION BY {alike}
                                ORDER BY max(last_used) DESC, result_key) AS place
                            FROM {RESULTS_TABLE} GROUP BY result_key, {alike})
                        WHERE place > ?)""", [KEEP_SERIES_STARTS])


def _state_key(persons: bool) -> str:
    """What a carried customer state depends on besides the orders: clientela's version, the
    engine's sources (the valid-order rules) and whether orders are read as persons."""
    import clientela

    return hashlib.sha256("\x1f".join(
        (clientela.__version__, _engine_digest(), str(persons))).encode()).hexdigest()[:32]


def _carry(source: Any, con: Any, periods: Sequence[Period], last: int, timezone: str,
           currency: str, mark: int) -> Carried | None:
    """The customer state as of the start of period `last` (the newest period computed),
    kept in the store for this call's engine calls and the next warm call; None when it
    cannot be kept (then every history is built from all orders, as cold)."""
    import duckdb

    from clientela.kpi.persons import persons_apply

    if not CARRY_STATE or not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    backend = source.ibis()
    period = periods[last]
    ctx = MetricContext(backend=backend, period=period, as_of=period.end_utc,
                        timezone=timezone, currency=currency, metric="customer state",
                        cache=TableCache(backend))
    try:
        return ensure(con, ctx, _state_key(persons_apply(ctx)), period.start_utc, mark)
    except duckdb.Error as error:
        log.debug("customer state not carried: %s", error)
        return None


def _credits(source: Any, con: Any, periods: Sequence[Period], key: _Key, timezone: str,
             currency: str, mark: int) -> KeptCredits | None:
    """Campaign ROI's credits for `key`'s series (contacts from its first period's start on),
    kept in the store and brought up to date for this call's engine calls; None when
    `key`'s metric reads no kept credits (`campaign_credits.serves`) or they cannot be kept
    (then its answers join every contact since the series' start with its orders, as
    cold)."""
    import duckdb

    import clientela
    from clientela.kpi.persons import persons_apply

    seconds = _window_seconds(key.metric, key.params)
    credited = campaign_credits.credited_by(key.metric.compute)
    if not KEEP_CREDITS or credited is None or not seconds \
            or seconds % 86400 or not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    backend = source.ibis()
    since = periods[0].start_utc
    ctx = MetricContext(backend=backend, period=periods[0], as_of=periods[0].end_utc,
                        timezone=timezone, currency=currency, metric="campaign credits",
                        cache=TableCache(backend))
    persons = persons_apply(ctx)
    digest = hashlib.sha256("\x1f".join((
        clientela.__version__, _engine_digest(), str(persons), currency, since.isoformat(),
        str(seconds))).encode()).hexdigest()[:32]
    try:
        return campaign_credits.ensure(con, ctx, credited, digest, since, seconds // 86400,
                                       mark)
    except duckdb.Error as error:
        log.debug("campaign credits not kept: %s", error)
        return None


def compute_reusing(
    source: Any, metrics: Sequence[str | Metric], *, start: Bound | None, end: Bound | None,
    grain: str | None, by: str | None, timezone: str, currency: str,
    params: Mapping[str, Mapping[str, Any]] | None, as_of: Bound | None, compare: Any,
    catalog: Mapping[str, Metric] | None, segmenter: str,
) -> KpiResult:
    """`compute` with the store's kept periods reused (see the module's docstring): the
    same answer as a cold call, row for row."""
    import duckdb

    from clientela.kpi.engine import (
        _check_slice,
        _instant,
        _schema,
        compute,
        parse_params,
        resolve,
    )

    global last_report
    report = last_report = WarmReport()
    common: dict[str, Any] = {"grain": grain, "by": by, "timezone": timezone,
                              "currency": currency, "as_of": as_of, "segmenter": segmenter}

    def cold(reason: str) -> KpiResult:
        report.cold = reason
        return compute(source, metrics, start=start, end=end, params=params, compare=compare,
                       catalog=catalog, **common)

    con = getattr(source, "con", None)
    if con is None or not hasattr(source, "ibis"):
        return cold("not a clientela store")
    if compare is not None or start is None or end is None:
        return cold("a comparison")
    if by in UNCACHED_SLICES:
        return cold(f"the {by} slice")
    chosen = resolve(metrics, catalog)
    given = dict(params or {})
    if any(name not in {m.name for m in chosen} for name in given):
        return cold("parameters for a metric not asked for")  # the engine says which
    for metric in chosen:
        _check_slice(metric, by)
    parsed = {m.name: parse_params(m, given.get(m.name)) for m in chosen}
    periods = buckets(parse_bound(start), parse_bound(end), grain, zone(timezone))
    fixed_as_of = _instant(as_of, timezone)
    keys = [_Key(m, parsed[m.name], (
        m.name, parsed[m.name].model_dump_json(), by or "", grain or "", timezone, currency,
        "" if fixed_as_of is None else fixed_as_of.isoformat(), catalogue_version(m)),
        _series_start(m, periods)) for m in chosen]
    try:
        mark = _refresh(con)
        kept = _load(con, keys)
    except duckdb.Error as error:  # a store opened read-only, or too old to hold the cache
        log.debug("warm cache unavailable: %s", error)
        return cold("the store cannot keep results (read-only?)")

    answers: dict[tuple[str, int], list[list[Any]]] = {}
    todo: dict[tuple[int, int], list[_Key]] = {}
    credits: KeptCredits | None = None
    for key in keys:
        name = key.metric.name
        missing = [i for i, period in enumerate(periods)
                   if (key.digest, period.start, period.end) not in kept]
        if key.metric.depends_on == "campaigns" and missing:
            found = _credits(source, con, periods, key, timezone, currency, mark)
            if found is None:
                missing = _with_earlier_contacts(con, periods, missing)
            else:  # credited from the series' start whatever the call's: one run suffices
                credits = found
                missing = list(range(missing[0], missing[-1] + 1))
        for i, period in enumerate(periods):
            if i not in missing:
                answers[(name, i)] = kept[(key.digest, period.start, period.end)]
                report.reused.setdefault(name, []).append(period.label)
        for run in _runs(missing):
            todo.setdefault(run, []).append(key)

    entries: list[dict[str, Any]] = []
    now = datetime.now(UTC).replace(tzinfo=None)
    carried = (_carry(source, con, periods, max(last for _, last in todo), timezone, currency,
                      mark) if todo else None)
    if carried is not None:
        report.carried = f"{carried.as_of.isoformat()} ({carried.origin})"
    if credits is not None:
        report.credits = credits.origin
    for (first, last), run_keys in sorted(todo.items()):
        run_metrics = [k.metric for k in run_keys]
        with carrying(None if carried is None
                      else replace(carried, call_start=periods[first].start_utc,
                                   series_start=periods[0].start_utc,
                                   series_grain=grain or "")), \
                crediting(credits):
            result = compute(source, run_metrics, start=periods[first].start,
                             end=periods[last].end,
                             params={m.name: given[m.name] for m in run_metrics
                                     if m.name in given},
                             **common)
        index = {p.label: i for i, p in enumerate(periods[first:last + 1], start=first)}
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for row in result.rows():
            grouped.setdefault((row["metric"], index[row["period"]]), []).append(row)
        for key in run_keys:
            name = key.metric.name
            for i in range(first, last + 1):
                period = periods[i]
                rows = _compact(grouped.get((name, i), []), by)
                answers[(name, i)] = rows
                report.computed.setdefault(name, []).append(period.label)
                reads_from, reads_until = _reads(key.metric, key.params, period, fixed_as_of)
                entries.append({
                    "result_key": key.digest, **dict(zip(
                        ("metric", "params", "slice", "grain", "timezone", "currency",
                         "as_of", "catalogue_version"), key.columns, strict=True)),
                    "period_start": period.start, "period_end": period.end,
                    "reads_from": reads_from, "reads_until": reads_until,
                    "reads_customers": by in CUSTOMER_SLICES or _reads_table(key.metric, CUSTOMERS),
                    "reads_campaigns": _reads_table(key.metric, CAMPAIGNS),
                    "reads_window_seconds": _window_seconds(key.metric, key.params),
                    "watermark": mark, "answer": json.dumps(rows), "computed_at": now,
                })
    try:
        con.begin()
        _save(con, entries)
        _bound(con, keys)
        con.commit()
    except duckdb.Error as error:
        con.rollback()
        log.debug("warm cache not saved: %s", error)

    out: list[dict[str, Any]] = []
    for metric in chosen:
        for i, period in enumerate(periods):
            for slice_value, item, measure, value in answers[(metric.name, i)]:
                row = {"metric": metric.name, "period": period.label,
                       "period_start": period.start, "period_end": period.end}
                if by is not None:
                    row[by] = slice_value
                row.update(item=item, measure=measure, value=value)
                out.append(row)
    log.debug("warm: %d periods reused, %d computed",
              sum(map(len, report.reused.values())), sum(map(len, report.computed.values())))
    schema = _schema(by, [("metric", pa.string()), ("period", pa.string()),
                          ("period_start", pa.timestamp("us")),
                          ("period_end", pa.timestamp("us"))],
                     [("value", pa.float64())])
    return KpiResult(pa.Table.from_pylist(out, schema=schema), "series", by)
