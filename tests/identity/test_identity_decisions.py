"""Merges and splits by hand: recorded with their reasons, kept by later resolutions, and
announced to `on_persons_changed`."""

from __future__ import annotations

from pathlib import Path

import pytest
from identity_support import customer, land, merged, open_store

from clientela.identity.decisions import merge, split
from clientela.identity.events import on_persons_changed, remove_persons_callback
from clientela.identity.resolve import resolve_all

CPF_A = "529.982.247-25"


def _decisions(store) -> list[tuple]:  # type: ignore[no-untyped-def]
    return store.con.execute("SELECT kind, customer_id, other_id, reason, revoked_at IS NOT NULL "
                             "FROM identity_decisions ORDER BY decided_at").fetchall()


def test_merge_is_recorded_and_survives_a_full_resolution(
        clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", email="a@x.com"), customer("b", "pos", phone="11987654321")])
        with store.transaction() as con:
            decision = merge(con, "a", "b", "same woman, confirmed at the till")
        assert decision.resolution is not None and decision.resolution.moved == 1
        assert merged(store) == {frozenset({"a", "b"})}
        assert _decisions(store) == [("merge", "a", "b", "same woman, confirmed at the till",
                                      False)]
        with store.transaction() as con:
            resolve_all(con)
        assert merged(store) == {frozenset({"a", "b"})}
        assert dict(store.con.execute("SELECT customer_id, rule FROM identity_links").fetchall()
                    ) == {"a": "manual", "b": "manual"}


def test_merging_one_person_records_nothing(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf=CPF_A), customer("b", "pos", cpf=CPF_A)])
        with store.transaction() as con:
            decision = merge(con, "a", "b", "why not")
        assert decision.decision_id is None
        assert _decisions(store) == []


def test_a_split_record_is_not_merged_again(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", email="x@y.com"), customer("b", "pos", email="x@y.com"),
                     customer("c", "app", email="x@y.com")])
        with store.transaction() as con:
            split(con, "c", "a colleague's address")
        assert merged(store) == {frozenset({"a", "b"})}
        with store.transaction() as con:
            resolve_all(con)
        land(store, [customer("c", "app", email="x@y.com", first_name="Carla"),
                     customer("d", "web", email="x@y.com")])
        assert merged(store) == {frozenset({"a", "b", "d"})}
        assert _decisions(store) == [("split", "c", None, "a colleague's address", False)]


def test_split_undoes_a_merge_and_records_why(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", email="a@x.com"), customer("b", "pos", phone="11987654321")])
        with store.transaction() as con:
            merge(con, "a", "b", "looked alike")
            decision = split(con, "b", "they are not")
        assert decision.kind == "unmerge"
        assert merged(store) == set()
        assert _decisions(store) == [("merge", "a", "b", "looked alike", True),
                                     ("unmerge", "b", None, "they are not", False)]


@pytest.mark.parametrize(("action", "args", "message"), [
    ("merge", ("a", "zz", "x"), "no customer 'zz' in the store"),
    ("split", ("a", "x"), "a is already a person of its own"),
    ("split", ("a", "  "), "--reason: expected a few words"),
])
def test_decision_errors(clientela_store_target: str, tmp_path: Path, action: str, args: tuple[str, ...],
                         message: str) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a"), customer("b", "pos")])
        with pytest.raises((LookupError, ValueError), match=message), \
                store.transaction() as con:
            {"merge": merge, "split": split}[action](con, *args)


def test_callbacks_hear_each_move_inside_the_transaction(clientela_store_target: str, tmp_path: Path) -> None:
    heard = []

    def refresh(con, change) -> None:  # type: ignore[no-untyped-def]
        links = con.execute("SELECT count(*) FROM identity_links").fetchone()[0]
        heard.append((change.cause, sorted(change.persons), links))

    on_persons_changed(refresh)
    on_persons_changed(refresh)  # once is enough
    try:
        with open_store(clientela_store_target) as store:
            land(store, [customer("b", email="x@y.com")])
            land(store, [customer("a", "pos", email="x@y.com")])
            with store.transaction() as con:
                split(con, "b", "not her")
    finally:
        remove_persons_callback(refresh)
    assert heard == [("records", ["a", "b"], 2), ("split", ["a", "b"], 0)]
