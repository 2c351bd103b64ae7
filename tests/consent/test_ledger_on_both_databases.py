"""`record`, `current`, `can_contact` and `history`, and the events customer rows state
(`clientela.consent.columns`), give the same answers on DuckDB and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clientela.consent import ConsentEvent, can_contact, current, history, record
from clientela.model.entities import Customer
from clientela.store import Store

T0 = datetime(2024, 3, 1, 12, 0, 0, 250000)


def event(status: str, at: datetime, *, cid: str = "c1", address: str = "ana@example.com",
          channel: str = "email", source: str = "import", evidence: str = "form A"
          ) -> ConsentEvent:
    return ConsentEvent(customer_id=cid, channel=channel, purpose="marketing", status=status,
                        address=address, occurred_at=at, source=source, evidence=evidence)


def customer(email: str | None = "ana@example.com", *, cid: str = "c1",
             phone: str | None = "+55 11 91234-5678", consent: str = "unknown",
             sms: str = "unknown", updated_at: datetime | None = None) -> Customer:
    return Customer(source="shop", customer_id=cid, email=email, phone=phone,
                    consent_email=consent, consent_sms=sms,
                    updated_at=updated_at.replace(tzinfo=UTC) if updated_at else None)


def test_record_is_idempotent_and_the_newest_event_wins(store: Store) -> None:
    store.upsert([customer()])
    events = [event("opted_in", T0), event("opted_out", T0 + timedelta(days=2), source="mc"),
              event("opted_in", T0)]  # the same event twice in one call: recorded once
    assert record(store, events) == 2
    assert record(store, events) == 0
    assert not can_contact(store, "c1", "email", "marketing")
    assert record(store, [event("opted_in", T0 + timedelta(days=3), evidence="it's me, 100%")]) == 1
    assert can_contact(store, "c1", "email", "marketing")
    assert current(store).to_pylist() == [{
        "customer_id": "c1", "channel": "email", "purpose": "marketing", "status": "opted_in",
        "address": "ana@example.com", "changed_at": T0 + timedelta(days=3), "source": "import",
        "evidence": "it's me, 100%"}]
    assert not can_contact(store, "c1", "email", "relationship")
    assert not can_contact(store, "c1", "sms", "marketing")


def test_a_tie_goes_to_the_opt_out_and_a_new_address_starts_without_consent(
        store: Store) -> None:
    store.upsert([customer(), customer("bia@example.com", cid="c2", phone=None)])
    record(store, [event("opted_in", T0), event("opted_out", T0, source="x"),
                   event("opted_in", T0, cid="c2", address="bia@example.com")])
    assert not can_contact(store, "c1", "email", "marketing")
    assert can_contact(store, "c2", "email", "marketing")
    store.upsert([customer("bia.new@example.com", cid="c2", phone=None)])
    assert not can_contact(store, "c2", "email", "marketing")
    # c1's tie (an opt-out) and the opt-out the store wrote for c2's replaced address
    assert [(r["customer_id"], r["status"], r["address"]) for r in current(store).to_pylist()] \
        == [("c1", "opted_out", "ana@example.com")]
    record(store, [event("opted_in", T0 + timedelta(days=1), cid="c2",
                         address=" BIA.new@example.com")])
    assert can_contact(store, "c2", "email", "marketing")


def test_history_finds_a_person_by_id_address_or_phone(store: Store) -> None:
    store.upsert([customer()])
    record(store, [event("opted_in", T0 + timedelta(hours=1), channel="whatsapp",
                         address="5511 91234 5678"),
                   event("opted_in", T0), event("opted_out", T0 + timedelta(days=1))])
    expected = [("email", "opted_in", "ana@example.com", T0),
                ("whatsapp", "opted_in", "5511912345678", T0 + timedelta(hours=1)),
                ("email", "opted_out", "ana@example.com", T0 + timedelta(days=1))]
    for key in ("c1", "ANA@example.com", "+55 (11) 91234-5678"):
        found = [(e.channel, e.status, e.address, e.occurred_at) for e in history(store, key)]
        assert found == expected, key
    assert history(store, "nobody@example.com") == []
    assert can_contact(store, "c1", "whatsapp", "marketing")


def test_customer_rows_become_events_once_and_an_old_file_does_not_undo_an_opt_out(
        store: Store) -> None:
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])  # a re-sync: nothing new
    rows = history(store, "c1")
    assert sorted((e.channel, e.status, e.source, e.address, e.evidence) for e in rows) == [
        ("email", "opted_in", "shop", "ana@example.com",
         "consent_email=subscribed on the shop customer record"),
        ("sms", "opted_out", "shop", "5511912345678",
         "consent_sms=unsubscribed on the shop customer record")]
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    record(store, [event("opted_out", later, source="mailchimp")])
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])
    assert not can_contact(store, "c1", "email", "marketing")
    store.upsert([customer(consent="subscribed", sms="unsubscribed",
                           updated_at=later + timedelta(hours=1))])
    assert can_contact(store, "c1", "email", "marketing")
    assert [e.occurred_at for e in history(store, "c1") if e.source == "shop"
            and e.channel == "email"][-1] == later + timedelta(hours=1)


def test_the_consent_command_shows_the_history_and_current_state(
        store: Store, tmp_path, capsys) -> None:
    from clientela.cli.app import main

    store.upsert([customer(consent="subscribed")])
    record(store, [event("opted_out", T0 + timedelta(days=400), source="mailchimp")])
    where = (f'[store]\nurl = "{store.url}"\n' if store.url
             else f'[workspace]\nstore = "{store.path}"\n')
    (tmp_path / "clientela.toml").write_text(where, encoding="utf-8")
    store.close()  # the command opens it itself (a DuckDB file once per process)
    assert main(["consent", "ana@example.com"]) == 0
    out = capsys.readouterr().out  # (a narrow table: its cells wrap)
    assert "consent history of a***@e***.com" in out and "current consent" in out
    assert "ana@example.com" not in out  # masked
    assert main(["consent", "nobody@example.com"]) == 2
