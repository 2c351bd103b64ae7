"""Hand-built cases for each match rule and each conflict, through the store's write path."""

from __future__ import annotations

from pathlib import Path

import pytest
from identity_support import customer, land, merged, open_store, person_ids, persons

from clientela.identity.events import on_persons_changed, remove_persons_callback

CPF_A, CPF_B = "529.982.247-25", "111.444.777-35"


def test_cpf_joins_records_written_differently(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("web-7", cpf=CPF_A), customer("pos-3", "pos", cpf="52998224725"),
                     customer("pos-4", "pos", cpf=CPF_B)])
        assert merged(store) == {frozenset({"web-7", "pos-3"})}
        assert person_ids(store) == {"web-7": "pos-3", "pos-3": "pos-3", "pos-4": "pos-4"}
        rules = dict(store.con.execute("SELECT customer_id, rule FROM identity_links").fetchall())
        assert rules == {"web-7": "cpf", "pos-3": "cpf"}


def test_an_invalid_cpf_never_matches(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf="111.111.111-11"), customer("b", "pos", cpf="11111111111"),
                     customer("c", cpf="529.982.247-24"), customer("d", "pos", cpf="52998224724")])
        assert merged(store) == set()


def test_email_trimmed_and_case_folded_and_plus_by_option(tmp_path: Path) -> None:
    records = [customer("a", email="Ana@Example.com"), customer("b", "pos", email=" ana@example.COM"),
               customer("c", "app", email="ana+promo@example.com")]
    with open_store(tmp_path / "keep.duckdb") as store:
        land(store, records)
        assert merged(store) == {frozenset({"a", "b"})}
    with open_store(tmp_path / "strip.duckdb", strip_plus_addressing=True) as store:
        land(store, records)
        assert merged(store) == {frozenset({"a", "b", "c"})}


def test_phone_with_the_ninth_digit_and_the_default_area(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target, default_area_code="21") as store:
        land(store, [customer("a", phone="(21) 8765-4321"), customer("b", "pos", phone="98765-4321"),
                     customer("c", "app", phone="+55 21 98765 4321"),
                     customer("d", "app", phone="(11) 98765-4321")])
        assert merged(store) == {frozenset({"a", "b", "c"})}


def test_a_source_link_names_the_customer_elsewhere(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("pos-1", "pos", attributes={"identity_link": "web-9"}),
                     customer("pos-2", "pos", attributes={"identity_link": "web-404"})])
        assert merged(store) == set()  # web-9 has not arrived yet
        land(store, [customer("web-9", "web")])
        assert merged(store) == {frozenset({"pos-1", "web-9"})}


def test_rules_not_listed_do_not_merge(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target, rules=["cpf"]) as store:
        land(store, [customer("a", email="x@y.com"), customer("b", "pos", email="x@y.com")])
        assert merged(store) == set()


def test_two_cpfs_through_an_email_are_kept_apart_and_listed(
        clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf=CPF_A, email="casal@x.com"),
                     customer("b", "pos", cpf=CPF_B, email="casal@x.com"),
                     customer("c", "app", email="casal@x.com")])
        assert merged(store) == set()
        rows = store.con.execute("SELECT kind, rule, key_shown, customer_ids, persons, cpfs "
                                 "FROM identity_conflicts").fetchall()
        assert rows == [("cpf", "email", "c***@x***.com", ["a", "b", "c"], 3, 2)]


def test_the_merge_policy_joins_anyway_and_still_lists(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target, conflict_policy="merge") as store:
        land(store, [customer("a", cpf=CPF_A, email="casal@x.com"),
                     customer("b", "pos", cpf=CPF_B, email="casal@x.com")])
        assert merged(store) == {frozenset({"a", "b"})}
        assert store.count("identity_conflicts") == 1


def test_in_a_chain_of_two_cpfs_the_more_trusted_key_joins(
        clientela_store_target: str, tmp_path: Path) -> None:
    # a (CPF A) -email- b -phone- c (CPF B): the e-mail joins a and b, the phone is held
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf=CPF_A, email="e1@x.com"),
                     customer("b", "pos", email="e1@x.com", phone="11987654321"),
                     customer("c", "app", cpf=CPF_B, phone="(11) 98765-4321")])
        assert merged(store) == {frozenset({"a", "b"})}
        kinds = store.con.execute("SELECT kind, rule FROM identity_conflicts ORDER BY rule"
                                  ).fetchall()
        assert kinds == [("cpf", "phone")]


def test_a_chain_of_two_cpfs_through_one_rule_is_held_whole(
        clientela_store_target: str, tmp_path: Path) -> None:
    # a (CPF A) -e1- b -e2- c (CPF B): joining either pair first would decide the other
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf=CPF_A, email="e1@x.com"),
                     customer("b", "pos", email="e1@x.com"),
                     customer("b", "app", email="e2@x.com"),
                     customer("c", "app2", cpf=CPF_B, email="e2@x.com")])
        assert merged(store) == set()
        assert store.count("identity_conflicts") == 2


def test_a_family_phone_over_the_limit_merges_nobody(clientela_store_target: str, tmp_path: Path) -> None:
    family = [customer(f"k{i}", f"s{i}", email=f"k{i}@x.com", phone="11987654321")
              for i in range(4)]
    with open_store(clientela_store_target, shared_key_limit=3) as store:
        land(store, family)
        assert merged(store) == set()
        rows = store.con.execute("SELECT kind, rule, key_shown, persons FROM identity_conflicts"
                                 ).fetchall()
        assert rows == [("shared", "phone", "***21", 4)]
    with open_store(tmp_path / "four.duckdb", shared_key_limit=4) as store:
        land(store, family)
        assert merged(store) == {frozenset({"k0", "k1", "k2", "k3"})}


def test_the_limit_counts_persons_not_records(clientela_store_target: str, tmp_path: Path) -> None:
    # one person with four records (same CPF) shares a phone with nobody else
    with open_store(clientela_store_target, shared_key_limit=2) as store:
        land(store, [customer(f"r{i}", f"s{i}", cpf=CPF_A, phone="11987654321") for i in range(4)]
             + [customer("other", "x", phone="11987654321")])
        assert merged(store) == {frozenset({"r0", "r1", "r2", "r3", "other"})}


def test_disabled_writes_no_links(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target, enabled=False) as store:
        land(store, [customer("a", cpf=CPF_A), customer("b", "pos", cpf=CPF_A)])
        assert store.count("identity_links") == 0
        assert persons(store) == {frozenset({"a"}), frozenset({"b"})}


def test_switching_off_and_on_again(clientela_store_target: str, tmp_path: Path) -> None:
    from clientela.config import IdentityConfig
    from clientela.identity.resolve import bind_config

    seen = []

    def record(con, change) -> None:  # type: ignore[no-untyped-def]
        seen.append((change.cause, [(c.customer_id, c.before, c.after) for c in change.changes]))

    on_persons_changed(record)
    try:
        with open_store(clientela_store_target) as store:
            land(store, [customer("a", cpf=CPF_A), customer("b", "pos", cpf=CPF_A)])
            with store.transaction() as con:
                bind_config(con, IdentityConfig(enabled=False))
            assert store.count("identity_links") == 0
            with store.transaction() as con:
                bind_config(con, IdentityConfig())
            assert merged(store) == {frozenset({"a", "b"})}
    finally:
        remove_persons_callback(record)
    assert seen == [("records", [("b", "b", "a")]), ("disabled", [("b", "a", "b")]),
                    ("resolve", [("b", "b", "a")])]


def test_a_changed_record_leaves_its_person(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", email="x@y.com"), customer("b", "pos", email="x@y.com"),
                     customer("c", "app", email="x@y.com")])
        assert merged(store) == {frozenset({"a", "b", "c"})}
        land(store, [customer("b", "pos", email="new@y.com")])
        assert merged(store) == {frozenset({"a", "c"})}


@pytest.mark.parametrize("value", ["not-a-cpf", "529.982.247-24"])
def test_an_invalid_cpf_joins_nothing_even_with_itself(
        clientela_store_target: str, tmp_path: Path, value: str) -> None:
    with open_store(clientela_store_target) as store:
        land(store, [customer("a", cpf=value), customer("b", "pos", cpf=value)])
        assert store.count("identity_keys") == 0


def test_the_link_attribute_is_configurable(clientela_store_target: str, tmp_path: Path) -> None:
    with open_store(clientela_store_target, link_attribute="ecommerce_id") as store:
        land(store, [customer("web-9", "web"),
                     customer("pos-1", "pos", attributes={"ecommerce_id": "web-9"}),
                     customer("pos-2", "pos", attributes={"identity_link": "web-9"})])
        assert merged(store) == {frozenset({"pos-1", "web-9"})}


def test_customers_inserted_in_bulk_are_resolved_too(clientela_store_target: str, tmp_path: Path) -> None:
    from clientela.model.entities import Customer
    from clientela.store.upsert import records_to_arrow

    with open_store(clientela_store_target) as store:
        land(store, [customer("a", email="x@y.com")])
        store.insert_new(Customer, records_to_arrow(Customer, [
            customer("b", "pos", email="X@y.com"), customer("c", "pos")]))
        assert merged(store) == {frozenset({"a", "b"})}


def test_forget_removes_the_keys_of_the_forgotten_and_the_links_they_made(
        clientela_store_target: str, tmp_path: Path) -> None:
    """Deletion reaches the identity graph: after `forget`, no digest of her CPF, e-mail or
    phone is left, and her records no longer join anyone through them."""
    from clientela.destinations.forget import forget

    store = open_store(clientela_store_target)
    land(store, [customer("web-1", email="ana@example.com", cpf="529.982.247-25"),
                 customer("pos-1", source="pos", email=" ANA@example.com", phone="11987650001"),
                 customer("web-2", email="bia@example.com")])
    assert frozenset({"web-1", "pos-1"}) in persons(store)
    forget(store, "ana@example.com", {})
    assert persons(store) == {frozenset({"web-1"}), frozenset({"pos-1"}), frozenset({"web-2"})}
    left = store.con.execute("SELECT customer_id FROM identity_keys ORDER BY 1").fetchall()
    assert left == [("web-2",)]
    store.close()
