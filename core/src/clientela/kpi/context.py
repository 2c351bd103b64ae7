"""What a metric sees when it computes one period.

The context hides the engine: a metric asks it for tables by name and for
the period's UTC bounds, and never learns whether it runs on DuckDB,
PySpark or PostgreSQL. Table access goes through `table()`, which turns a
missing or empty table into a `MissingDataError` naming the metric, and reads
customer-level tables as persons when the store links records to persons.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clientela.kpi.errors import MissingDataError
from clientela.kpi.periods import Period

if TYPE_CHECKING:
    import ibis.expr.datatypes as dt
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

log = logging.getLogger(__name__)

SLICES: tuple[str, ...] = ("channel", "store_id", "salesperson_id", "acquisition_channel",
                           "segment")
ORDER_SLICES: tuple[str, ...] = ("channel", "store_id", "salesperson_id")
"""Dimensions carried by the order itself."""
CUSTOMER_SLICES: tuple[str, ...] = ("acquisition_channel", "segment")
"""Dimensions carried by the customer (segment: the `segmenter`'s segment as of
`segment_as_of`)."""
SLICE_COLUMN = "slice"
"""The column a metric groups by when the engine asks for a slice."""
PERIOD_COLUMN = "_period"
"""The column a series metric groups by: the index of the period a row falls in."""


@dataclass
class TableCache:
    """Per-call memory of which tables exist and hold rows (one query per table, not per period)."""

    backend: BaseBackend
    present: dict[str, bool] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    """Results shared across metrics and periods of one call (e.g. a fitted CLV model)."""
    materialised: dict[str, ir.Table] = field(default_factory=dict)
    """Sub-expressions many metrics and periods share (valid orders with their amounts, first
    orders, a customer history as of an instant), each computed once per call into a
    temporary table on the backend: a metric then reads a plain table, so its expression is
    small to build and compile, and the engine does the shared work once."""
    asked: dict[str, int] = field(default_factory=dict)
    """How often each key was asked for before it was materialised."""
    transient: set[str] = field(default_factory=set)
    """Keys of `materialised` that `release_transient` drops (per-period tables)."""
    materialise: bool = False
    """Only an owner that releases what it materialised (the engine's `compute`, which
    always calls `release`) turns this on; any other holder gets plain expressions, so no
    temporary table outlives the connection it was made on."""
    eager: bool = False
    """Materialise a shared table on its first ask rather than its second. The engine turns
    this on when it answers several metrics: then most shared tables are asked for again,
    and waiting for the second ask computes each of them twice (once inline, once to write
    it out). One metric alone keeps the lazy rule."""
    metrics: int = 1
    """How many metrics the call answers: a table most of them read (the valid orders) is
    worth writing out once only when enough of them read it (see `retail.valid_orders`)."""
    periods: int = 0
    """How many periods the call answers (0 when not told): a call of one period reads
    that period's valid orders from the store table rather than writing every valid order
    out first (see `retail.valid_orders`)."""
    written: dict[str, int] = field(default_factory=dict)
    """How many times each key was written out in this call (it stays after `release`): what
    a test reads to see which shared tables a call materialised."""
    reader: str | None = None
    """The metric whose expression is being built, while the engine plans (see `planning`)."""
    _planned: dict[str, _Planned] | None = None
    _pending: dict[str, _Planned] = field(default_factory=dict)
    """After `settle`: the planned tables to write, not written yet, in planning order (a
    table built from another comes after it)."""
    _needs: dict[str, set[str]] = field(default_factory=dict)
    """After `settle`: the planned tables each metric's query needs written before it runs."""
    _swaps: dict[Any, Any] = field(default_factory=dict)
    """Each written planned table's expression -> the table it was written to."""
    _readers_left: dict[str, set[str]] = field(default_factory=dict)
    _narrowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """After `settle`: the planned tables written with only the columns their readers'
    answers can depend on, and those columns (see `clientela.kpi.column_use`)."""
    _tables: set[str] | None = None
    _read: dict[str, ir.Table] = field(default_factory=dict)
    _parts: dict[str, list[ir.Table]] = field(default_factory=dict)
    """The tables written for each key written in parts (see `shared`), which `release`
    drops."""

    def has(self, name: str) -> bool:
        if name not in self.present:
            if self._tables is None:  # one listing per call, not one per table asked about
                self._tables = set(self.backend.list_tables())
            exists = name in self._tables
            self.present[name] = bool(exists and self.table(name).count().execute() > 0)
        return self.present[name]

    def prefetch(self, names: Iterable[str]) -> None:
        """Whether each of `names` exists and holds rows, answered for all of them by one
        query (a row or none from each table, stacked) rather than by one count per table:
        each query is a round trip and a compile, which a call asking about five tables
        paid five times before any metric ran."""
        import ibis

        wanted = sorted({n for n in names if n not in self.present})
        found_tables = {n: self._lookup(n) for n in wanted}
        self.present.update({n: False for n, t in found_tables.items() if t is None})
        existing = [n for n, t in found_tables.items() if t is not None]
        if not existing:
            return
        probes = []
        for name in existing:
            one = self.table(name).limit(1)
            probes.append(one.aggregate(_rows=one.count()).mutate(
                _name=ibis.literal(name, type="string")))
        found = ibis.union(*probes, distinct=False).to_pyarrow().to_pydict()
        self.present.update({n: bool(rows) for n, rows in
                             zip(found["_name"], found["_rows"], strict=True)})

    def _lookup(self, name: str) -> ir.Table | None:
        """The store table `name`, or None when the backend has none by that name: asked
        directly, since listing every table is a query of its own and the tables a call
        reads are almost always there. A backend that reports a missing table by another
        error than Ibis's TableNotFound is asked for the listing, to tell one from a
        failing lookup."""
        from ibis.common.exceptions import TableNotFound

        try:
            return self.table(name)
        except TableNotFound:
            return None
        except Exception:  # a backend that reports a missing table otherwise
            if self._tables is None:
                self._tables = set(self.backend.list_tables())
            if name in self._tables:
                raise
            return None

    def table(self, name: str) -> ir.Table:
        """The store table `name`, looked up once per call: each lookup asks the backend for
        the table's schema (a query), and a 36-period series asks for `orders` dozens of
        times. The store does not change during a call."""
        if name not in self._read:
            self._read[name] = self.backend.table(name)
        return self._read[name]

    def shared(self, key: str, build: Callable[[], ir.Table], *,
               transient: bool = False,
               once: Callable[[], ir.Table] | None = None,
               parts: Callable[[], Sequence[ir.Table]] | None = None) -> ir.Table:
        """The table `build()` describes, materialised the second time `key` is asked for
        (the first when `eager`).

        Otherwise the first ask gets a plain expression (`once()` when given: a cheaper form for a
        single use, e.g. without sorting), because a table asked for once in a call (RFM
        alone, one CLV summary) costs more to write out than to compute inside its query.
        Ibis's `cache()` is a temporary table on DuckDB and PostgreSQL and a persisted
        DataFrame on PySpark, so nothing here is engine-specific. `transient` marks a table
        tied to a few periods, dropped by `release_transient` once they are answered.

        `parts()`, when given, are tables whose union (all rows, each once) is `build()`'s:
        the table is then written one part per query and read as their union, so that a
        query whose memory grows with its input (a join's hash table) holds one part of it
        at a time; read inside another query, it is still `build()`."""
        if not self.materialise:
            return (once or build)()
        if key in self._narrowed:  # written for its planned readers' columns alone
            return (once or build)()
        if self._planned is not None and key not in self.materialised:
            return self._plan(key, build, transient, parts)
        if key in self._pending:  # planned, and asked for again before its first reader ran
            return self._write_pending(key)
        if key not in self.materialised:
            self.asked[key] = self.asked.get(key, 0) + 1
            if self.asked[key] == 1 and not self.eager:
                return (once or build)()
            self._write(key, build(), transient, tuple(parts()) if parts else ())
        return self.materialised[key]

    def _write(self, key: str, table: ir.Table, transient: bool,
               parts: Sequence[ir.Table] = ()) -> ir.Table:
        """Write `table`, or, given two or more `parts` (see `shared`), each part apart."""
        started = time.perf_counter()
        if len(parts) > 1:
            import ibis

            self._parts[key] = [part.cache() for part in parts]
            written = ibis.union(*self._parts[key], distinct=False)
        else:
            written = table.cache()
        self.materialised[key] = written
        if log.isEnabledFor(logging.DEBUG):  # what each shared table costs (the benchmark)
            log.debug("shared table %s: %d rows x %d columns written in %.2f s",
                      key.split("|")[0], written.count().execute(), len(written.columns),
                      time.perf_counter() - started)
        self.written[key] = self.written.get(key, 0) + 1
        if transient:
            self.transient.add(key)
        return written

    @contextlib.contextmanager
    def planning(self) -> Iterator[None]:
        """While the engine builds several metrics' expressions before running any: every ask
        for a shared table gets one plain expression per key (built once, the same object
        for every reader) and records which metric asked; `settle` then picks the tables more
        than one metric reads, which `ready` writes out as their first reader runs. A table
        one metric reads stays inside that metric's query, where the database computes it
        once (a common table expression) and computes only the columns the query uses."""
        self._planned = {}
        try:
            yield
        finally:
            self._planned = None
            self.reader = None

    def _plan(self, key: str, build: Callable[[], ir.Table], transient: bool,
              parts: Callable[[], Sequence[ir.Table]] | None) -> ir.Table:
        assert self._planned is not None
        entry = self._planned.get(key)
        if entry is None:  # build() may ask for other keys: they are planned first
            entry = self._planned[key] = _Planned(build(), transient,
                                                  tuple(parts()) if parts else ())
        entry.readers.add(self.reader)
        return entry.expr

    def settle(self, exprs: dict[str, ir.Table], *, inline_single: bool) -> None:
        """Decide which planned tables to write, and who needs each, without writing any yet.

        `exprs` maps each metric to its planned expression. A planned table two or more of
        them read is to be written (every planned table some expression reads, without
        `inline_single`: metrics answered after these may read it again); `ready` writes it
        just before the first metric that needs it runs, and `answered` drops it after the
        last. Writing them all here, before any metric, made every shared table of the
        catalogue live in the database's memory at once: at scale they outgrow a memory
        limit's pool together and spill to disk, though each metric reads only a few."""
        assert self._planned is not None, "settle() belongs inside planning()"
        wanted = {key: entry for key, entry in self._planned.items()
                  if not inline_single or len(entry.readers) >= 2}
        targets = {entry.expr.op(): key for key, entry in wanted.items()}
        direct = {name: _reads(expr.op(), targets)
                  | ({targets[expr.op()]} if expr.op() in targets else set())
                  for name, expr in exprs.items()}
        inner = {key: _reads(entry.expr.op(), targets) for key, entry in wanted.items()}
        self._needs = {name: _closure(keys, inner) for name, keys in direct.items()}
        needed = set().union(*self._needs.values())
        self._pending = {key: entry for key, entry in wanted.items() if key in needed}
        self._planned = {}
        if not inline_single:
            return  # later metrics may read any of them: kept to the end of the call
        self._narrow(exprs)
        for key, entry in self._pending.items():
            if None in entry.readers:
                continue  # asked for outside any metric: kept to the end of the call
            # dropped once every metric reading it has run and every planned table built
            # from it is written
            self._readers_left[key] = {name for name, keys in direct.items() if key in keys}
            self._readers_left[key] |= {_WRITING + outer for outer, keys in inner.items()
                                        if key in keys and outer in self._pending}

    def _narrow(self, exprs: Mapping[str, ir.Table]) -> None:
        """Pick the pending tables to write with fewer columns: those every reader of is
        planned (so the columns their answers can depend on are known) and whose answers
        leave some column unread. A metric that asks for such a table again after the
        plan (a period without rows, answered alone) gets it computed inside its own
        query instead, since it may read a column the write left out."""
        from clientela.kpi.column_use import columns_used

        prunable = {key: entry for key, entry in self._pending.items()
                    if None not in entry.readers}
        if not prunable:
            return
        used = columns_used([expr.op() for expr in exprs.values()],
                            [entry.expr.op() for entry in prunable.values()])
        for key, entry in prunable.items():
            columns = entry.expr.columns
            # at least one column, when the readers only count the rows
            kept = tuple(c for c in columns if c in used[entry.expr.op()]) or columns[:1]
            if len(kept) < len(columns):
                self._narrowed[key] = kept

    def run_order(self, metrics: Sequence[str]) -> list[str]:
        """`metrics` (after `settle`) reordered so that the readers of one planned table run
        together, which shortens the time each table is held: a metric runs beside the first
        reader of its most particular table (the one fewest metrics need), and otherwise
        keeps its place. Only the running order changes; the answers keep the caller's."""
        place = {name: i for i, name in enumerate(metrics)}
        readers: dict[str, list[str]] = {}
        for name in metrics:
            for key in self._needs.get(name, ()):
                readers.setdefault(key, []).append(name)

        def slot(name: str) -> tuple[int, int]:
            tables = self._needs.get(name)
            if not tables:
                return place[name], place[name]
            particular = min(tables, key=lambda t: (len(readers[t]), place[readers[t][0]]))
            return place[readers[particular][0]], place[name]

        return sorted(metrics, key=slot)

    def ready(self, metric: str, expr: ir.Table) -> ir.Table:
        """`metric`'s planned expression, the planned tables it needs written out first (the
        ones no earlier metric needed) and read in their place."""
        for key in [k for k in self._pending if k in self._needs.get(metric, ())]:
            self._write_pending(key)
        return _swapped(expr, self._swaps)

    def _write_pending(self, key: str) -> ir.Table:
        """Write planned table `key` (those it is built from are written before it, being
        planned before it), as read by its readers' expressions."""
        entry = self._pending.pop(key)
        table = _swapped(entry.expr, self._swaps)
        parts = [_swapped(part, self._swaps) for part in entry.parts]
        if key in self._narrowed:
            table = table.select(*self._narrowed[key])
            parts = [part.select(*self._narrowed[key]) for part in parts]
        written = self._write(key, table, entry.transient, parts)
        self._swaps[entry.expr.op()] = _as_planned(written, entry.expr).op()
        self._done(_WRITING + key)
        return self.materialised[key]

    def answered(self, metric: str) -> None:
        """`metric`'s planned query has run: a table written by `ready` that no metric still
        to run reads is dropped now rather than at the end of the call. Under a memory limit
        that frees DuckDB's pool for the later metrics' own joins, which otherwise spill
        beside tables nobody reads again. Only the tables of a call whose every metric was
        planned are tracked (`settle` with `inline_single`): none answered period by period
        follows that could read them."""
        self._done(metric)

    def _done(self, reader: str) -> None:
        for key in list(self._readers_left):
            left = self._readers_left[key]
            left.discard(reader)
            if not left:
                del self._readers_left[key]
                table = self.materialised.pop(key, None)
                self.transient.discard(key)
                if table is not None:
                    self._release_key(key, table)

    def release_transient(self) -> None:
        for key in sorted(self.transient):
            self._release_key(key, self.materialised.pop(key))
        self.transient.clear()

    def release(self) -> None:
        """Drop every table this call materialised (the end of a `compute` call)."""
        for key, table in self.materialised.items():
            self._release_key(key, table)
        self.materialised.clear()
        self.transient.clear()
        self._readers_left.clear()
        self._narrowed.clear()
        self._pending.clear()
        self._needs.clear()
        self._swaps.clear()

    def _release_key(self, key: str, table: ir.Table) -> None:
        """Drop the table written for `key`: its parts, when it was written in parts."""
        for written in self._parts.pop(key, None) or (table,):
            self._release(written)

    @staticmethod
    def _release(table: ir.Table) -> None:
        with contextlib.suppress(Exception):  # gone with its connection: nothing to free
            table.release()


_WRITING = "\0writing "
"""Prefix of a planned table's name among the readers of the tables it is built from."""


@dataclass
class _Planned:
    """A shared table asked for while the engine plans: its expression and who read it."""

    expr: ir.Table
    transient: bool
    parts: tuple[ir.Table, ...] = ()
    """Tables whose union is `expr`, each written by a query of its own (see `shared`)."""
    readers: set[str | None] = field(default_factory=set)


def _as_planned(written: ir.Table, planned: ir.Table) -> ir.Table:
    """`written` with the columns and column types of the expression it was written from.

    The readers were built against the planned expression; an engine may read a written
    table back with other types (PySpark gives an int32 for an int64 computed in the
    query), which a union or join in a reader would refuse. Nullability is left as the
    engine reports it: only the types are the planned ones. A column the write left out
    (no reader's answer depends on it, `TableCache._narrow`) is a typed null, which a
    reader may name but whose value reaches no answer; the database drops it unread."""
    import ibis

    have, want = written.schema(), planned.schema()

    def as_read(name: str, dtype: dt.DataType) -> bool:
        return name in have and have[name].copy(nullable=True) == dtype.copy(nullable=True)

    def column(name: str, dtype: dt.DataType) -> ir.Value:
        if name not in have:
            return ibis.null(dtype.copy(nullable=True)).name(name)
        return written[name] if as_read(name, dtype) else written[name].cast(dtype).name(name)

    if list(have.names) == list(want.names) and all(as_read(*c) for c in want.items()):
        return written
    return written.select(*[column(name, dtype) for name, dtype in want.items()])


def _swapped(expr: ir.Table, swaps: dict[Any, Any]) -> ir.Table:
    """`expr` with the planned tables in `swaps` replaced by the tables they were written to."""
    if not swaps:
        return expr
    return expr.op().replace(swaps).to_expr()


def _reads(root: Any, targets: Mapping[Any, str]) -> set[str]:
    """The keys of the `targets` (planned table expression -> key) that the expression
    `root` reads directly, not through another of them."""
    found: set[str] = set()
    seen: set[Any] = set()
    stack = list(root.__children__)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in targets:
            found.add(targets[node])
        else:
            stack.extend(node.__children__)
    return found


def _closure(keys: set[str], inner: Mapping[str, set[str]]) -> set[str]:
    """`keys` and every planned table they are built from, however deep."""
    found, todo = set(), list(keys)
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            todo.extend(inner.get(key, ()))
    return found


@dataclass(frozen=True)
class MetricContext:
    """One period's view of the store, as a metric receives it."""

    backend: BaseBackend
    period: Period
    as_of: datetime
    """Naive UTC instant for point-in-time metrics: the period's end unless the caller fixed it."""
    timezone: str
    currency: str
    metric: str
    by: str | None = None
    segment_as_of: datetime | None = None
    """As-of instant of the segments used by the `segment` slice."""
    segmenter: str = "rfm"
    """The registered segmenter the `segment` slice uses."""
    cache: TableCache | None = None
    as_of_fixed: bool = False
    """The caller fixed `as_of` for every period (otherwise it is each period's end)."""
    periods: tuple[Period, ...] | None = None
    """Set when a series metric answers several contiguous periods in one expression: then
    `period` spans them all, and the conventions cut rows into them (see `keys`)."""

    @property
    def start(self) -> datetime:
        """Inclusive start of the period, naive UTC."""
        return self.period.start_utc

    @property
    def end(self) -> datetime:
        """Exclusive end of the period, naive UTC."""
        return self.period.end_utc

    @property
    def keys(self) -> list[str]:
        """Columns to group by: the period index when answering a series, then the slice
        column when slicing; none for one unsliced period."""
        keys = [PERIOD_COLUMN] if self.periods else []
        return [*keys, SLICE_COLUMN] if self.by else keys

    def has(self, name: str) -> bool:
        cache = self.cache or TableCache(self.backend)
        return cache.has(name)

    def shared(self, key: str, build: Callable[[], ir.Table], *,
               transient: bool = False,
               once: Callable[[], ir.Table] | None = None,
               parts: Callable[[], Sequence[ir.Table]] | None = None) -> ir.Table:
        """`build()` materialised once per engine call (see TableCache.shared); without the
        engine's cache (a metric called directly, a compile-only test) it is just the
        expression, so a metric reads the same either way."""
        if self.cache is None:
            return (once or build)()
        return self.cache.shared(key, build, transient=transient, once=once, parts=parts)

    def table(self, name: str) -> ir.Table:
        """A store table, or MissingDataError when the store lacks it or it is empty."""
        if not self.has(name):
            exists = name in self.backend.list_tables()
            raise MissingDataError(self.metric, name,
                                   reason="is empty" if exists else "does not exist")
        return self._persons(name)

    def optional_table(self, name: str) -> ir.Table | None:
        return self._persons(name) if self.has(name) else None

    def _persons(self, name: str) -> ir.Table:
        """The store table, its customer ids read as persons (`clientela.kpi.persons`)."""
        from clientela.kpi.persons import as_persons

        return as_persons(self, name, self.stored(name))

    def stored(self, name: str) -> ir.Table:
        """The store table as it is (no persons), looked up once per engine call."""
        return self.cache.table(name) if self.cache is not None else self.backend.table(name)

    def with_period(self, period: Period, as_of: datetime | None = None) -> MetricContext:
        """The same request for another period (the previous one, for retention)."""
        return replace(self, period=period, as_of=as_of or period.end_utc, periods=None)

    def unsliced(self) -> MetricContext:
        return replace(self, by=None)
