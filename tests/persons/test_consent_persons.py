"""Consent of persons: the events of all of a woman's records decide for each of them.

Maria is `web-1` (online: maria@example.com, phone 11 98765-0001) and `pos-77` (the till:
maria.loja@example.com, phone 11 98765-0002), linked in `identity_links` by hand as the
resolver would. The address rule for persons (docs/persons.md): an opt-in counts only for
the address it was given for; an opt-out counts for all her records when it has no address,
names the record's own address, or names the current address of the record it was given on.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from clientela.consent import ConsentEvent, can_contact, current, history, record
from clientela.identity.analytics import identity_resolution
from clientela.model.entities import Customer
from clientela.store import Store

LINKED_AT = datetime(2025, 4, 1)
WEB_MAIL, POS_MAIL = "maria@example.com", "maria.loja@example.com"


def event(customer_id: str, status: str, address: str | None, day: int,
          channel: str = "email", source: str = "test") -> ConsentEvent:
    return ConsentEvent(customer_id=customer_id, channel=channel, purpose="marketing",
                        status=status, address=address, occurred_at=datetime(2025, 3, day, 12),
                        source=source, evidence="test")


def link(store: Store, *pairs: tuple[str, str]) -> None:
    for customer_id, person_id in pairs:
        store.con.execute("INSERT INTO identity_links VALUES (?, ?, 'cpf', ?)",
                          [customer_id, person_id, LINKED_AT])


@pytest.fixture
def store(clientela_store_target: str, tmp_path: Path) -> Store:
    opened = Store(clientela_store_target)
    opened.upsert([
        Customer(source="shop", customer_id="web-1", email=WEB_MAIL, phone="+5511987650001"),
        Customer(source="pos", customer_id="pos-77", email=POS_MAIL, phone="+5511987650002",
                 cpf="529.982.247-25"),
        Customer(source="shop", customer_id="web-2", email="joao@example.com"),
    ])
    record(opened, [event("web-1", "opted_in", WEB_MAIL, 1),
                    event("web-2", "opted_in", "joao@example.com", 1)])
    yield opened
    opened.close()


def states(store: Store) -> dict[str, str]:
    return {r["customer_id"]: r["status"] for r in current(store).to_pylist()
            if r["channel"] == "email" and r["purpose"] == "marketing"}


def test_an_opt_out_at_the_till_protects_her_online_address(store: Store) -> None:
    record(store, [event("pos-77", "opted_out", POS_MAIL, 5, source="pos")])
    # records apart: the till's opt-out is about the till's address only
    assert states(store) == {"web-1": "opted_in", "pos-77": "opted_out", "web-2": "opted_in"}
    assert can_contact(store, "web-1", "email", "marketing")
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    assert states(store) == {"web-1": "opted_out", "pos-77": "opted_out", "web-2": "opted_in"}
    assert not can_contact(store, "web-1", "email", "marketing")
    assert can_contact(store, "web-2", "email", "marketing")
    with identity_resolution(False):  # `[identity] enabled = false`: records apart again
        assert states(store)["web-1"] == "opted_in"
        assert can_contact(store, "web-1", "email", "marketing")


def test_the_newest_event_of_her_records_wins(store: Store) -> None:
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    record(store, [event("pos-77", "opted_out", POS_MAIL, 5, source="pos"),
                   event("web-1", "opted_in", WEB_MAIL, 9)])  # she opts in again online
    assert states(store) == {"web-1": "opted_in", "pos-77": "opted_out", "web-2": "opted_in"}
    assert can_contact(store, "web-1", "email", "marketing")
    assert not can_contact(store, "pos-77", "email", "marketing")  # the opt-in was for WEB_MAIL


def test_an_opt_out_wins_a_tie_across_records(store: Store) -> None:
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    record(store, [event("web-1", "opted_in", WEB_MAIL, 5),
                   event("pos-77", "opted_out", POS_MAIL, 5, source="pos")])
    assert states(store)["web-1"] == "opted_out"


def test_an_opt_in_counts_only_for_its_address(store: Store) -> None:
    """An opt-in at the till for the till's address gives no consent online; one for the
    e-mail she also uses online does."""
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    record(store, [event("web-1", "opted_out", WEB_MAIL, 2),
                   event("pos-77", "opted_in", POS_MAIL, 6, source="pos")])
    assert states(store) == {"web-1": "opted_out", "pos-77": "opted_in", "web-2": "opted_in"}
    record(store, [event("pos-77", "opted_in", WEB_MAIL, 7, source="pos")])
    assert states(store)["web-1"] == "opted_in"


def test_an_opt_out_of_a_former_address_stays_with_it(store: Store) -> None:
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    record(store, [event("pos-77", "opted_out", "antigo@example.com", 5, source="pos")])
    assert states(store)["web-1"] == "opted_in"


def test_a_stop_without_address_on_another_channel(store: Store) -> None:
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    record(store, [event("web-1", "opted_in", "5511987650001", 1, channel="sms"),
                   event("pos-77", "opted_out", None, 4, channel="sms", source="pos")])
    assert not can_contact(store, "web-1", "sms", "marketing")
    assert can_contact(store, "web-1", "email", "marketing")  # only the channel said no to


def test_a_record_without_link_named_as_the_person(store: Store) -> None:
    """pos-77 linked to person `web-1`; web-1 has no row, so it is that person."""
    link(store, ("pos-77", "web-1"))
    record(store, [event("pos-77", "opted_out", POS_MAIL, 5, source="pos")])
    assert not can_contact(store, "web-1", "email", "marketing")


def test_history_shows_every_record_of_the_person(store: Store) -> None:
    record(store, [event("pos-77", "opted_out", POS_MAIL, 5, source="pos")])
    assert {e.customer_id for e in history(store, WEB_MAIL)} == {"web-1"}
    link(store, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    assert [(e.customer_id, e.status) for e in history(store, WEB_MAIL)] == [
        ("web-1", "opted_in"), ("pos-77", "opted_out")]
