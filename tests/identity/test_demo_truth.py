"""The two-source demo (e-commerce plus the shops' POS export with CPFs), resolved by the
store's own write path, against the generator's truth: the same persons, and the KPIs
counted by person (`active_customers`, `omnichannel_share`) equal to the truth's counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.demo import DemoData, generate, load
from clientela.demo.pos import PosExport, draw_pos
from clientela.demo.pos_load import load_pos_export, write_pos_export
from clientela.demo.pos_truth import resolution_truth
from clientela.demo.truth import ResolutionTruth
from clientela.identity.analytics import identity_resolution
from clientela.kpi import compute
from clientela.store import Store

TIMEZONE = "America/Sao_Paulo"
CONTEXT = {"timezone": TIMEZONE, "reporting_currency": "BRL"}


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate(customers=2_000, orders=10_000, seed=7)


@pytest.fixture(scope="module")
def export(demo: DemoData) -> PosExport:
    return draw_pos(demo)


@pytest.fixture(scope="module")
def truth(demo: DemoData, export: PosExport) -> ResolutionTruth:
    return resolution_truth(demo, export)


@pytest.fixture(scope="module")
def store(demo: DemoData, export: PosExport,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = Path(tmp_path_factory.mktemp("two-sources"))
    with Store(folder / "store.duckdb") as opened:
        load(opened, demo)
        load_pos_export(opened, write_pos_export(export, folder / "pos"), CONTEXT)
        yield opened


def groups(pairs: dict[str, str]) -> set[frozenset[str]]:
    """The partition of records into persons, whatever the persons are called."""
    members: dict[str, set[str]] = {}
    for record, person in pairs.items():
        members.setdefault(person, set()).add(record)
    return {frozenset(group) for group in members.values()}


def test_the_store_resolves_exactly_the_generators_persons(
        store: Store, truth: ResolutionTruth) -> None:
    expected = truth.person_of()
    links = dict(store.con.execute("SELECT customer_id, person_id FROM identity_links").fetchall())
    found = {record: links.get(record, record) for record in expected}
    assert len(set(found.values())) == truth.persons
    assert groups(found) == groups(expected)
    # the mistyped CPFs, each shared by two different people, joined nobody
    assert truth.mistyped_cpfs


def test_active_customers_and_omnichannel_share_count_persons_as_the_truth_does(
        store: Store, truth: ResolutionTruth) -> None:
    months = sorted(truth.active_by_month)[-6:]
    start, end = months[0], _next(months[-1])
    result = compute(store, ["active_customers", "omnichannel_share"], start=start, end=end,
                     grain="month", timezone=TIMEZONE)
    rows = result.rows()
    active = {r["period"]: int(r["value"]) for r in rows
              if r["metric"] == "active_customers" and r["measure"] == "value"}
    assert active == {m: truth.active_by_month.get(m, 0) for m in months}
    share = {r["period"]: r["value"] for r in rows
             if r["metric"] == "omnichannel_share" and r["measure"] == "value"}
    assert share == pytest.approx({m: truth.omnichannel_share(m) for m in months}, abs=1e-12)
    omni = {r["period"]: (int(r["value"])) for r in rows
            if r["metric"] == "omnichannel_share" and r["measure"] == "omnichannel_customers"}
    assert omni == {m: truth.omnichannel_by_month[m][0] for m in months}
    # without resolution the same store counts records, as a store without it did
    with identity_resolution(False):
        records = compute(store, ["active_customers"], start=start, end=end, grain="month",
                          timezone=TIMEZONE).rows()
    assert {r["period"]: int(r["value"]) for r in records if r["measure"] == "value"} == {
        m: truth.active_records_by_month.get(m, 0) for m in months}


def _next(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"
