"""Identity resolution on both store databases: the keys a PostgreSQL store computes are the
normalisation tables' values (the same SQL, translated), and persons built batch by batch
equal a full resolution, with the same person ids, on a DuckDB file and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from identity_support import customer, land, open_store, persons
from test_identity_normalize import CPF_CASES, EMAIL_CASES, PHONE_CASES

from clientela.config import IdentityConfig
from clientela.identity.keys import readable_keys_sql
from clientela.identity.resolve import resolve_all
from clientela.store import Store


def store_keys(store: Store, config: IdentityConfig, values: list[str]) -> dict[str, dict[str, Any]]:
    """rule -> raw value -> its normalised key, as the store computes keys for its customers
    (each value given as CPF, e-mail and phone at once; a value with no key is absent)."""
    ids = [f"r{i}" for i in range(len(values))]
    cases = pa.table({"customer_id": ids, "cpf": values, "email": values, "phone": values,
                      "attributes": pa.array([None] * len(values), pa.string())})
    store.con.register("_cases", cases)
    try:
        rows = store.con.execute(f"SELECT customer_id, rule, value FROM "
                                 f"({readable_keys_sql(config, '_cases')})").fetchall()
    finally:
        store.con.unregister("_cases")
    raw = dict(zip(ids, values, strict=True))
    found: dict[str, dict[str, Any]] = {"cpf": {}, "email": {}, "phone": {}}
    for customer_id, rule, value in rows:
        found[rule][raw[customer_id]] = value
    return found


def test_the_store_normalises_as_the_tables_say(clientela_store_target: str) -> None:
    with Store(clientela_store_target) as store:
        cpfs = store_keys(store, IdentityConfig(), [raw for raw, _ in CPF_CASES])["cpf"]
        assert {raw: cpfs.get(raw) for raw, _ in CPF_CASES} == dict(CPF_CASES)
        for plus in (False, True):
            cases = [(raw, want) for raw, strip, want in EMAIL_CASES if strip == plus]
            emails = store_keys(store, IdentityConfig(strip_plus_addressing=plus),
                                [raw for raw, _ in cases])["email"]
            assert {raw: emails.get(raw) for raw, _ in cases} == dict(cases)
        for area in (None, "21"):
            cases = [(raw, want) for raw, code, want in PHONE_CASES if code == area]
            phones = store_keys(store, IdentityConfig(default_area_code=area),
                                [raw for raw, _ in cases])["phone"]
            assert {raw: phones.get(raw) for raw, _ in cases} == dict(cases)


CPF = "529.982.247-25"
OTHER_CPF = "111.444.777-35"


def links(store: Store) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in store.con.execute(
        "SELECT customer_id, person_id, rule FROM identity_links ORDER BY customer_id")
        .fetchall()]


@pytest.mark.parametrize("order", ["web first", "app first"])
def test_batches_from_three_sources_equal_a_full_resolution(clientela_store_target: str,
                                                            order: str) -> None:
    """web: a (CPF, e-mail); pos: b (the e-mail in capitals, a phone); app: c (the phone
    written otherwise) and d (another CPF on the same e-mail as a: kept apart)."""
    batches = [
        [customer("a", "web", cpf=CPF, email="ana@x.com")],
        [customer("b", "pos", email=" ANA@X.COM", phone="(11) 98765-4321")],
        [customer("c", "app", phone="+55 11 98765-4321"),
         customer("d", "app", cpf=OTHER_CPF, email="ana@x.com")],
    ]
    if order == "app first":
        batches.reverse()
    with open_store(clientela_store_target) as store:
        for batch in batches:
            land(store, batch)
        incremental = links(store)
        with store.transaction() as con:
            resolve_all(con)
        assert links(store) == incremental
        conflicts = store.con.execute(
            "SELECT kind, rule, customer_ids, persons, cpfs FROM identity_conflicts").fetchall()
    # d's CPF clashes with a's through the e-mail: the e-mail joins nobody, the phone
    # still joins b and c; a and d stay alone
    assert persons_of(incremental, "abcd") == {frozenset("a"), frozenset("bc"), frozenset("d")}
    assert [(kind, rule, sorted(ids), n, c) for kind, rule, ids, n, c in conflicts] == [
        ("cpf", "email", ["a", "b", "d"], 3, 2)]


def persons_of(rows: list[tuple[str, str, str]], everyone: str) -> set[frozenset[str]]:
    person = {customer_id: person_id for customer_id, person_id, _ in rows}
    groups: dict[str, set[str]] = {}
    for customer_id in everyone:
        groups.setdefault(person.get(customer_id, customer_id), set()).add(customer_id)
    return {frozenset(group) for group in groups.values()}


def test_a_later_batch_joins_two_persons_and_forget_splits_them_again(
        clientela_store_target: str) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", "web", email="ana@x.com"),
                     customer("b", "pos", phone="11 98765-4321")])
        assert persons(store) == {frozenset("a"), frozenset("b")}
        land(store, [customer("c", "app", email="Ana@x.com", phone="(11) 98765-4321")])
        assert persons(store) == {frozenset("abc")}
        assert {rule for _, _, rule in links(store)} == {"email", "phone"}
        from clientela.destinations.forget import forget

        forget(store, "ana@x.com", {})  # a and c: their keys go, b keeps only her own
        assert persons(store) == {frozenset("a"), frozenset("b"), frozenset("c")}
        assert links(store) == []
