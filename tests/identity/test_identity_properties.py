"""Properties: the same records give the same persons (and conflicts) whatever order and
batches they arrive in, equal to a full resolution; merge-then-split restores the persons."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from identity_support import customer, open_store, persons

from clientela.identity.decisions import merge, split
from clientela.identity.resolve import resolve_all
from clientela.model.entities import Customer
from clientela.store import Store

CPFS = ["529.982.247-25", "111.444.777-35", "123.456.789-09", "123.456.789-00", None]
EMAILS = ["ana@x.com", "ANA@x.com ", "bia@x.com", "loja@x.com", None]
PHONES = ["(11) 8765-4321", "+55 11 98765-4321", "(21) 3333-4444", "11 91234-5678", None]
LINKS = ["r0", "r3", None, None, None]

_record = st.tuples(st.sampled_from(["web", "pos", "app"]), st.sampled_from(CPFS),
                    st.sampled_from(EMAILS), st.sampled_from(PHONES), st.sampled_from(LINKS))
_records = st.lists(_record, min_size=2, max_size=9).map(lambda rows: [
    customer(f"r{i}", source, cpf=cpf, email=email, phone=phone,
             attributes={"identity_link": link} if link else {})
    for i, (source, cpf, email, phone, link) in enumerate(rows)])
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _conflicts(store: Store) -> set[tuple[str, str, frozenset[str]]]:
    rows = store.con.execute("SELECT kind, rule, customer_ids FROM identity_conflicts").fetchall()
    return {(kind, rule, frozenset(ids)) for kind, rule, ids in rows}


def _full(path: Path, records: list[Customer]) -> tuple[set[frozenset[str]], set]:
    with open_store(path, shared_key_limit=2) as store:
        store.upsert(records)
        with store.transaction() as con:
            resolve_all(con)
        return persons(store), _conflicts(store)


@pytest.mark.slow
@SETTINGS
@given(records=_records, order=st.randoms(use_true_random=False), cuts=st.lists(
    st.integers(1, 8), max_size=4))
def test_any_arrival_order_and_batches_give_the_same_persons(
        records: list[Customer], order, cuts: list[int]) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        expected = _full(Path(folder) / "full.duckdb", records)
        shuffled = list(records)
        order.shuffle(shuffled)
        bounds = sorted({0, len(shuffled), *(c for c in cuts if c < len(shuffled))})
        with open_store(Path(folder) / "batches.duckdb", shared_key_limit=2) as store:
            for start, end in itertools.pairwise(bounds):
                store.upsert(shuffled[start:end])
            assert (persons(store), _conflicts(store)) == expected


@pytest.mark.slow
@SETTINGS
@given(records=_records, pick=st.randoms(use_true_random=False))
def test_merge_then_split_restores_the_previous_persons(records: list[Customer],
                                                         pick) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder, \
            open_store(Path(folder) / "s.duckdb", shared_key_limit=2) as store:
        store.upsert(records)
        before = persons(store)
        if len(before) < 2:
            return
        first_group, second_group = pick.sample(sorted(before, key=sorted), 2)
        first, second = pick.choice(sorted(first_group)), pick.choice(sorted(second_group))
        with store.transaction() as con:
            merge(con, first, second, "test")
        joined = persons(store)
        assert first_group | second_group <= next(g for g in joined if first in g)
        with store.transaction() as con:
            split(con, pick.choice([first, second]), "undo")
        assert persons(store) == before
        with store.transaction() as con:
            resolve_all(con)
        assert persons(store) == before
