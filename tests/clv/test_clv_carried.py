"""Predicted CLV in a warm KPI call: the newest month's purchase days are the counters kept
with the carried customer state plus the orders since (`clientela.clv.engine.carried`), and
its fits start from the ones the previous call kept.

The summaries must be the very arrays a fetch of every order gives, and the answers those
of a cold run. The engine only promises them within its warm-start tolerance
(`WARM_TOLERANCE`: a first fit may start elsewhere than a cold series starts it), which
every test checks; where the warm call's first fit starts from the kept fit a cold series
starts it from (one new day, a write dated inside the series) or both start afresh (a
write dated before the series, a merge), they are the cold answers bit for bit, which the
tests check too: all of them here, whose warm and cold calls ask for one series.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from clv_store_support import warm_vs_cold
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientela.clv.engine import carried as clv_carried
from clientela.clv.engine import periods
from clientela.clv.engine.series import fetch_purchase_days, summaries
from clientela.demo import generate, load
from clientela.destinations.forget import forget
from clientela.identity import IDENTITY_LINKS_TABLE
from clientela.kpi import compute, warm
from clientela.kpi.carried import carrying
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import buckets, parse_bound, zone
from clientela.model import Order
from clientela.store import Store
from clientela.store.touched import FITS_TABLE, PURCHASE_DAYS_TABLE

TZ = "America/Sao_Paulo"
SPAN: dict[str, Any] = dict(start="2025-07", end="2026-01", grain="month", timezone=TZ)
CLV = ["clv_predicted", "p_alive"]
NEWEST = datetime(2025, 12, 1, 3)
"""The newest month's start (December 2025 in Sao Paulo), naive UTC: the carried state's
instant."""
END = datetime(2026, 1, 1, 3)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store with every period of CLV kept (and the state, counters and fits)."""
    path = tmp_path_factory.mktemp("clv-warm") / "template.duckdb"
    with Store(path) as store:
        load(store, generate(customers=1_500, orders=8_000, seed=3))
        compute(store, CLV, reuse=True, **SPAN)
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "warm.duckdb"
    shutil.copy(template, path)
    with Store(path) as opened:
        yield opened


class Edits:
    """Writes through the store's write paths, on the demo's own orders and customers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.added = 0

    def order(self, pick: int, since: datetime = datetime(2000, 1, 1)) -> pa.Table:
        """One of the orders placed since `since` (naive UTC), by `pick`."""
        count = self.store.con.execute("SELECT count(*) FROM orders WHERE placed_at >= ?",
                                       [since]).fetchone()[0]
        return self.store.con.execute(
            "SELECT * FROM orders WHERE placed_at >= ? ORDER BY order_id LIMIT 1 OFFSET ?",
            [since, pick * 7919 % count]).to_arrow_table()

    def _customer(self, pick: int) -> str:
        ids = self.store.con.execute(
            "SELECT DISTINCT customer_id FROM orders WHERE customer_id IS NOT NULL "
            "ORDER BY customer_id").fetchall()
        return str(ids[pick * 104729 % len(ids)][0])

    def _write(self, row: pa.Table, **columns: Any) -> None:
        for name, value in columns.items():
            kind = row.schema.field(name).type
            row = row.set_column(row.schema.get_field_index(name), name, pa.array([value], kind))
        row = row.drop_columns([c for c in row.column_names if c.startswith("_")])
        self.store.write_batch(Order, row)

    def apply(self, edit: tuple[Any, ...]) -> None:
        kind, *args = edit
        getattr(self, kind)(*args)

    def new(self, customer: int | None, day: int, cents: int) -> None:
        """An order `day` days before the demo's end (0: its last day, 30: December's first
        is 30), by an existing customer or, for None, by a new one."""
        self.added += 1
        template = self.order(self.added)
        who = f"new-{self.added}" if customer is None else self._customer(customer)
        total = Decimal(cents) / 100
        self._write(template, order_id=f"edit-{self.added}", customer_id=who,
                    placed_at=datetime(2025, 12, 31, 15) - timedelta(days=day, hours=day % 7),
                    status="paid", subtotal=total, total=total, refunded_amount=Decimal(0))

    def refund(self, pick: int, share: float, since: datetime = datetime(2000, 1, 1)) -> None:
        row = self.order(pick, since)
        total = Decimal(str(row["total"][0].as_py()))
        refunded = (total * Decimal(str(share))).quantize(Decimal("0.01"))
        self._write(row, refunded_amount=refunded,
                    status="refunded" if refunded == total else "partially_refunded")

    def cancel(self, pick: int) -> None:
        self._write(self.order(pick), status="cancelled")

    def merge(self, pick: int, into: int) -> None:
        self.store.con.execute(f"INSERT OR REPLACE INTO {IDENTITY_LINKS_TABLE} VALUES (?, ?, ?, ?)",
                               [self._customer(pick), self._customer(into), "email",
                                datetime(2025, 1, 1)])

    def forget(self, pick: int) -> None:
        row = self.store.con.execute("SELECT email FROM customers WHERE customer_id = ?",
                                     [self._customer(pick)]).fetchone()
        if row is not None and row[0]:
            forget(self.store, row[0], {})


def fetches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[datetime | None, datetime]]:
    """Each purchase-day fetch's (since, until) while the patch holds."""
    found: list[tuple[datetime | None, datetime]] = []
    real = clv_carried.fetch_purchase_days

    def counted(ctx: MetricContext, *, until: datetime, since: datetime | None = None) -> Any:
        found.append((since, until))
        return real(ctx, until=until, since=since)

    monkeypatch.setattr(clv_carried, "fetch_purchase_days", counted)
    return found


def warm_starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, datetime, bool]]:
    """Each fit made: (model, as of, warm-started?)."""
    found: list[tuple[str, datetime, bool]] = []
    real = periods.model_fit

    def noted(ctx: MetricContext, kind: str, unit: str, customers: Any, **kw: Any) -> Any:
        found.append((kind, customers.calibration_end, kw.get("warm_start") is not None))
        return real(ctx, kind, unit, customers, **kw)

    monkeypatch.setattr(periods, "model_fit", noted)
    return found


def test_the_first_warm_call_keeps_the_counters_and_every_fit(store: Store) -> None:
    kept = store.con.execute(f"SELECT DISTINCT as_of, timezone, currency FROM {PURCHASE_DAYS_TABLE}"
                             ).fetchall()
    assert kept == [(NEWEST, TZ, "BRL")]
    fits = store.con.execute(f"SELECT count(*), count(DISTINCT as_of) FROM {FITS_TABLE}").fetchone()
    assert fits == (12, 6)  # BG/NBD and Gamma-Gamma at each of the six months' ends


def test_the_counters_plus_the_orders_since_give_the_summaries_of_every_order(
        store: Store) -> None:
    edits = Edits(store)
    for customer, day, cents in ((None, 0, 12_345), (3, 0, 999), (3, 2, 10_001), (8, 29, 50)):
        edits.new(customer, day, cents)
    periods_ = buckets(parse_bound("2025-12"), parse_bound("2026-01"), "month", zone(TZ))
    kept = warm._carry(store, store.con, periods_, 0, TZ, "BRL", 0)
    assert kept is not None and kept.as_of == NEWEST
    backend = store.ibis()
    ctx = MetricContext(backend=backend, period=periods_[0], as_of=END, timezone=TZ,
                        currency="BRL", metric="test", cache=TableCache(backend),
                        periods=tuple(periods_))
    with carrying(replace(kept, call_start=NEWEST)):
        carried_days = clv_carried.purchase_days(ctx, until=END, first_end=END)
    every = fetch_purchase_days(ctx, until=END)
    assert carried_days is not None and carried_days.opening is not None
    assert every.opening is None
    assert len(carried_days.code) < len(every.code)  # only the days since the state
    (found,), (expected,) = summaries(carried_days, [END], TZ), summaries(every, [END], TZ)
    assert found.customer_id.equals(expected.customer_id)
    for name in ("frequency", "recency", "age", "monetary"):
        assert np.array_equal(getattr(found.summary, name), getattr(expected.summary, name))


def test_one_new_day_reads_the_orders_since_and_answers_as_cold_bit_for_bit(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    edits = Edits(store)
    for customer, day, cents in ((None, 0, 4_000), (5, 0, 7_777), (11, 0, 123)):
        edits.new(customer, day, cents)
    fetched, fits = fetches(monkeypatch), warm_starts(monkeypatch)
    hot = compute(store, CLV, reuse=True, **SPAN)
    assert warm.last_report.computed == {name: ["2025-12"] for name in CLV}
    assert fetched == [(NEWEST, END)]  # the days since the state, not every order
    assert fits and all(warm_started for _, _, warm_started in fits)
    monkeypatch.undo()
    cold = compute(store, CLV, **SPAN)
    assert hot.rows() == cold.rows()


@pytest.mark.parametrize("edit", [
    ("refund", 40, 0.5),  # an old order: the state is rebuilt, months from it recomputed
    ("cancel", 41),
    ("merge", 2, 9),
    ("forget", 4),
    ("new", 3, 200, 5_000),  # a new order dated in June, before the series
])
def test_warm_equals_cold_after_a_write(store: Store, edit: tuple[Any, ...]) -> None:
    Edits(store).apply(edit)
    hot = compute(store, CLV, reuse=True, **SPAN)
    assert warm.last_report.cold is None
    warm_vs_cold(hot, compute(store, CLV, **SPAN))
    Edits(store).new(6, 0, 3_210)  # and the next night, from the state rebuilt
    hot = compute(store, CLV, reuse=True, **SPAN)
    warm_vs_cold(hot, compute(store, CLV, **SPAN))


def test_a_refund_inside_the_series_starts_from_the_kept_fit_and_answers_as_cold(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refund on an order placed in October or later: its month to December are
    recomputed, the first month's fits starting from the ones kept as of its start (the
    previous month's end), as a cold series starts them, so the answers are the cold ones
    bit for bit."""
    edits, october = Edits(store), datetime(2025, 10, 1, 3)
    placed = edits.order(5, october)["placed_at"][0].as_py()
    edits.refund(5, 0.5, since=october)
    fits = warm_starts(monkeypatch)
    hot = compute(store, CLV, reuse=True, **SPAN)
    month = f"{placed - timedelta(hours=3):%Y-%m}"
    assert warm.last_report.computed["clv_predicted"][0] == month
    assert fits and all(warm_started for _, _, warm_started in fits)
    monkeypatch.undo()
    assert hot.rows() == compute(store, CLV, **SPAN).rows()


def test_a_series_started_later_keeps_its_own_fits_and_answers_as_cold_bit_for_bit(
        store: Store) -> None:
    """Over the store whose July series is kept, a series from September: a cold series
    starts September's fits from the generic guess and chains from there, so its answers
    and fits are its own, not the July chain's, and after one new day the warm recompute
    of December starts from the September chain's fit as of December's start: the cold
    answers bit for bit, for both series."""
    later = dict(SPAN, start="2025-09")
    hot = compute(store, CLV, reuse=True, **later)
    assert hot.rows() == compute(store, CLV, **later).rows()
    Edits(store).new(5, 0, 7_777)
    for span in (later, SPAN):
        hot = compute(store, CLV, reuse=True, **span)
        assert warm.last_report.computed == {name: ["2025-12"] for name in CLV}
        assert hot.rows() == compute(store, CLV, **span).rows()


def test_the_fits_no_later_call_can_read_are_dropped(store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept fits are bounded: a chain kept under a state key no kept state has (an older
    clientela's) goes even when used last, and of the rest only the KEEP_CHAINS chains used
    last stay. Those still answer as cold bit for bit after one new day; the series whose
    chains went starts its recompute from the generic guess, within the tolerance."""
    monkeypatch.setattr(clv_carried, "KEEP_CHAINS", 4)
    store.con.execute(f"INSERT INTO {FITS_TABLE} SELECT 'old-chain', 'old-state', as_of, "
                      f"watermark, fit, TIMESTAMP '2100-01-01' FROM {FITS_TABLE} "
                      "WHERE fit LIKE '%bgnbd%'")
    september, november = dict(SPAN, start="2025-09"), dict(SPAN, start="2025-11")
    compute(store, CLV, reuse=True, **september)
    compute(store, CLV, reuse=True, **november)
    chains = store.con.execute(f"SELECT count(*) FROM {FITS_TABLE} GROUP BY fit_key "
                               "ORDER BY 1").fetchall()
    # two models each: September's series as of October to January 1st, November's as of
    # December and January 1st; July's chains (six each) and the old state's are gone
    assert chains == [(2,), (2,), (4,), (4,)]
    Edits(store).new(5, 0, 7_777)
    for span in (september, november):
        hot = compute(store, CLV, reuse=True, **span)
        assert warm.last_report.computed == {name: ["2025-12"] for name in CLV}
        assert hot.rows() == compute(store, CLV, **span).rows()
    warm_vs_cold(compute(store, CLV, reuse=True, **SPAN), compute(store, CLV, **SPAN))


def test_a_write_dated_before_a_kept_fit_drops_it(store: Store) -> None:
    Edits(store).cancel(41)  # an order placed before at least the last months' ends
    placed = store.con.execute("SELECT placed_at FROM orders WHERE status = 'cancelled' "
                               "ORDER BY order_id").fetchall()
    compute(store, ["revenue"], reuse=True, **SPAN)  # reading the cache drops the stale
    left = [row[0] for row in store.con.execute(f"SELECT as_of FROM {FITS_TABLE}").fetchall()]
    assert placed and all(as_of <= min(p[0] for p in placed) for as_of in left)


days = st.one_of(st.integers(min_value=0, max_value=400), st.sampled_from([0, 0, 1, 30, 31]))
"""Days before the demo's last day: mostly the newest month (0 to 30)."""
picks = st.integers(min_value=0, max_value=10_000)
edits = st.one_of(
    st.tuples(st.just("new"), st.one_of(st.none(), picks), days,
              st.integers(min_value=1, max_value=90_000)),
    st.tuples(st.just("refund"), picks, st.sampled_from([0.25, 0.5, 1.0])),
    st.tuples(st.just("cancel"), picks),
    st.tuples(st.just("merge"), picks, picks),
    st.tuples(st.just("forget"), picks),
)


@pytest.mark.slow
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.lists(edits, min_size=1, max_size=3), min_size=1, max_size=2))
def test_warm_clv_equals_cold_after_random_edits(template: Path,
                                                 rounds: list[list[tuple[Any, ...]]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warm.duckdb"
        shutil.copy(template, path)
        with Store(path) as store:
            editor = Edits(store)
            for batch in rounds:
                for edit in batch:
                    editor.apply(edit)
                hot = compute(store, CLV, reuse=True, **SPAN)
                assert warm.last_report.cold is None
            cold = compute(store, CLV, **SPAN)
            warm_vs_cold(hot, cold)
            assert hot.rows() == cold.rows()



KEPT = {"b": (1, 3), "d": (2, 4), "f": (3, 5)}
"""Kept counters: customer -> (purchase days, first purchase day)."""


def _opening(ids: list[str]) -> clv_carried.Opening:
    purchases = np.array([KEPT[i][0] for i in ids], dtype=np.int64)
    return clv_carried.Opening(
        customer_id=pa.array(ids, pa.string()),
        counters=clv_carried.Counters(purchases=purchases, cents=purchases * 100.0,
                                      last=purchases + 10),
        first_day=np.array([KEPT[i][1] for i in ids], dtype=np.int64),
        first_cents=np.full(len(ids), 5.0))


def _days_since(ids: list[str]) -> clv_carried.PurchaseDays:
    n = len(ids)
    return clv_carried.PurchaseDays(
        customer_id=pa.array(ids, pa.string()), code=np.arange(n, dtype=np.int32),
        day=np.full(n, 40, dtype=np.int64), cents=np.full(n, 700.0),
        first_day=np.full(n, 40, dtype=np.int64), first_cents=np.full(n, 700.0))


@pytest.mark.parametrize("since", [["b", "d"], ["a", "c", "e", "f"], []])
def test_merged_codes_customers_in_id_order_whether_the_opening_is_sorted_or_not(
        since: list[str]) -> None:
    """The kept counters read back in id order are merged without hashing every id
    (`_placed_in_order`); read back in another order, by hashing: the same arrays."""
    expected = sorted({*KEPT, *since})
    for ids in (["b", "d", "f"], ["f", "b", "d"]):
        merged = clv_carried.merged(_opening(ids), _days_since(since))
        assert merged.customer_id.to_pylist() == expected
        assert merged.opening is not None
        assert merged.opening.purchases.tolist() == [KEPT.get(i, (0, 0))[0] for i in expected]
        assert merged.opening.last.tolist() == [
            KEPT[i][0] + 10 if i in KEPT else np.iinfo(np.int64).min for i in expected]
        assert merged.first_day.tolist() == [KEPT.get(i, (0, 40))[1] for i in expected]
        assert merged.first_cents.tolist() == [5.0 if i in KEPT else 700.0 for i in expected]
        assert [expected[c] for c in merged.code] == since
