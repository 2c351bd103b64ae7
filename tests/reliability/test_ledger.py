"""The consent ledger: append-only, idempotent, newest event wins, per address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from clientela.consent import ConsentEvent, can_contact, current, event_key, history, record
from clientela.consent.ledger import KEY_SQL
from clientela.model.entities import Customer
from clientela.store import Store
from clientela.store.migrations import META_TABLE, MIGRATIONS

T0 = datetime(2024, 3, 1, 12, 0)


def event(status: str, at: datetime, *, cid: str = "c1", address: str = "ana@example.com",
          channel: str = "email", source: str = "import", purpose: str = "marketing") -> ConsentEvent:
    return ConsentEvent(customer_id=cid, channel=channel, purpose=purpose, status=status,
                        address=address, occurred_at=at, source=source, evidence="form A")


def customer(email: str | None = "ana@example.com", *, phone: str | None = "+55 11 91234-5678",
             cid: str = "c1", consent: str = "unknown", sms: str = "unknown",
             updated_at: datetime | None = None) -> Customer:
    return Customer(source="shop", customer_id=cid, email=email, phone=phone, consent_email=consent,
                    consent_sms=sms, updated_at=updated_at.replace(tzinfo=UTC) if updated_at else None)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.duckdb")


def test_record_is_idempotent_and_newest_event_wins(store: Store) -> None:
    store.upsert([customer()])
    events = [event("opted_in", T0), event("opted_out", T0 + timedelta(days=2), source="mailchimp")]
    assert record(store, events) == 2
    assert record(store, events) == 0
    assert not can_contact(store, "c1", "email", "marketing")
    assert record(store, [event("opted_in", T0 + timedelta(days=3))]) == 1
    assert can_contact(store, "c1", "email", "marketing")
    state = current(store).to_pylist()
    assert state == [{"customer_id": "c1", "channel": "email", "purpose": "marketing",
                      "status": "opted_in", "address": "ana@example.com",
                      "changed_at": T0 + timedelta(days=3), "source": "import",
                      "evidence": "form A"}]
    # the purpose and the channel are separate questions
    assert not can_contact(store, "c1", "email", "relationship")
    assert not can_contact(store, "c1", "sms", "marketing")


def test_a_tie_goes_to_the_opt_out(store: Store) -> None:
    store.upsert([customer()])
    record(store, [event("opted_in", T0), event("opted_out", T0, source="x")])
    assert not can_contact(store, "c1", "email", "marketing")


def test_a_changed_address_starts_without_consent(store: Store) -> None:
    store.upsert([customer()])
    record(store, [event("opted_in", T0)])
    assert can_contact(store, "c1", "email", "marketing")
    store.upsert([customer("ana.new@example.com")])
    assert not can_contact(store, "c1", "email", "marketing")
    assert current(store).num_rows == 0  # the old address's opt-in no longer counts
    record(store, [event("opted_in", T0 + timedelta(days=1), address="ANA.new@example.com ")])
    assert can_contact(store, "c1", "email", "marketing")


def test_phones_compare_by_digits(store: Store) -> None:
    store.upsert([customer()])
    record(store, [event("opted_in", T0, channel="whatsapp", address="5511 91234 5678")])
    assert can_contact(store, "c1", "whatsapp", "marketing")
    assert history(store, "+55 (11) 91234-5678")[-1].address == "5511912345678"


def test_event_times_are_naive_utc_and_fields_are_checked() -> None:
    aware = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert event("opted_in", aware).occurred_at == T0
    with pytest.raises(ValidationError, match="channel"):
        event("opted_in", T0, channel="fax")
    with pytest.raises(ValidationError, match="status"):
        event("maybe", T0)


def test_the_sql_key_is_the_python_key() -> None:
    e = event("opted_in", datetime(2024, 3, 1, 12, 0, 0, 123456))
    con = duckdb.connect()
    row = con.execute(f"SELECT {KEY_SQL} FROM (SELECT ? AS customer_id, ? AS channel, ? AS purpose, "
                      "? AS status, ? AS address, ?::TIMESTAMP AS occurred_at, ? AS source, "
                      "? AS evidence)", [e.customer_id, e.channel, e.purpose, e.status, e.address,
                                         e.occurred_at, e.source, e.evidence]).fetchone()
    assert row is not None and row[0] == e.key == event_key(
        "c1", "email", "marketing", "opted_in", "ana@example.com", e.occurred_at, "import", "form A")


def test_customer_rows_become_events_once(store: Store) -> None:
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])  # a re-sync: nothing new
    rows = history(store, "c1")
    assert sorted((e.channel, e.status, e.source, e.address) for e in rows) == [
        ("email", "opted_in", "shop", "ana@example.com"), ("sms", "opted_out", "shop", "5511912345678")]
    assert rows[0].evidence.endswith("on the shop customer record")
    # an unsubscribe elsewhere, later: re-importing the same old record does not undo it
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    record(store, [event("opted_out", later, source="mailchimp")])
    store.upsert([customer(consent="subscribed", sms="unsubscribed")])
    assert not can_contact(store, "c1", "email", "marketing")
    # the platform itself saying so, dated after it, does
    store.upsert([customer(consent="subscribed", sms="unsubscribed",
                           updated_at=later + timedelta(hours=1))])
    assert can_contact(store, "c1", "email", "marketing")
    # pending and unknown say nothing
    store.upsert([customer(cid="c2", email="bia@example.com", phone="+55 11 98765-4321",
                           consent="pending")])
    assert history(store, "c2") == []


def test_the_migration_moves_existing_consent_columns_into_events(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with Store(path) as store:
        store.upsert([customer(consent="subscribed"), customer(cid="c2", email="bia@example.com",
                                                            phone="+55 11 98765-4321",
                                                            consent="unsubscribed", sms="subscribed")])
        store.con.execute("DELETE FROM consent_events")
        store.con.execute(f"UPDATE {META_TABLE} SET value = '1' WHERE key = 'schema_version'")
    with Store(path) as store:
        version = store.con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
                                    ).fetchone()
        assert version == (str(len(MIGRATIONS)),)
        got = sorted((e.customer_id, e.channel, e.status) for cid in ("c1", "c2")
                     for e in history(store, cid))
    assert got == [("c1", "email", "opted_in"), ("c2", "email", "opted_out"),
                   ("c2", "sms", "opted_in")]


def test_consent_command_shows_a_masked_history(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from clientela.cli.app import app, main

    path = tmp_path / "cli.duckdb"
    with Store(path) as store:
        store.upsert([customer(consent="subscribed")])
        record(store, [event("opted_out", T0 + timedelta(days=400), source="mailchimp")])
    result = CliRunner().invoke(app, ["--store", str(path), "consent", "ana@example.com"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ana@example.com" not in result.output
    assert "a***@e***.com" in result.output
    assert "mailchimp" in result.output and "opted_out" in result.output
    assert main(["--store", str(path), "consent", "zed@example.com"]) == 2
    assert "no consent recorded for z***@e***.com" in capsys.readouterr().err.replace("\n", " ")
