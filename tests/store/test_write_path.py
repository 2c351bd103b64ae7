"""The store's write path, on DuckDB and on PostgreSQL alike (`store` runs each test on both).

Upserts by natural key and the version rule, quarantine and its resolution, cursors, the
run log, markers, the consent ledger fed by customer rows, the message ledger's basics, the
push state and erasure requests; and that a failed batch lands nothing on either.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from clientela.consent import current_sql
from clientela.consent.ledger import event_key
from clientela.journeys import ledger
from clientela.model import Customer, Order, validate_rows
from clientela.store import Store
from clientela.store.ledger_erasure import erase_in
from clientela.store.migrations import SCHEMA_VERSION
from clientela.store.push_state import LogRow, SentRow
from clientela.store.quarantine import clear_quarantined, count_quarantined, list_quarantined


def order(order_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "source": "shop", "order_id": order_id, "customer_id": "c1", "status": "paid",
        "placed_at": "2024-01-10T12:00:00Z", "updated_at": "2024-01-10T12:00:00Z",
        "subtotal": "100.00", "total": "100.00", "channel": "online",
    }
    row.update(changes)
    return row


def orders(*rows: dict[str, object]) -> list[Order]:
    good, bad = validate_rows(Order, rows)
    assert not bad
    return good  # type: ignore[return-value]


def customers(*rows: dict[str, object]) -> list[Customer]:
    good, bad = validate_rows(Customer, rows)
    assert not bad
    return good  # type: ignore[return-value]


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return store.con.execute(sql).fetchall()


def test_a_new_store_is_migrated_to_the_current_version(store: Store) -> None:
    assert rows(store, "SELECT value FROM _clientela_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]
    assert store.counts()["orders"] == 0


def test_opening_again_keeps_the_data(store_target: str) -> None:
    with Store(store_target) as store:
        store.upsert(orders(order("1")))
    with Store(store_target) as store:
        assert store.count("orders") == 1


def test_upsert_inserts_then_reports_unchanged(store: Store) -> None:
    first = store.upsert(orders(order("1"), order("2")))
    again = store.upsert(orders(order("1"), order("2")))
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    mixed = store.upsert(orders(order("2", total="90.00", updated_at="2024-02-01T00:00:00Z"),
                                order("3")))
    assert (mixed.inserted, mixed.updated, mixed.unchanged) == (1, 1, 0)
    assert rows(store, "SELECT order_id, total FROM orders ORDER BY order_id") == [
        ("1", Decimal("100.00")), ("2", Decimal("90.00")), ("3", Decimal("100.00"))]


def test_a_refund_on_an_old_order_replaces_its_revenue(store: Store) -> None:
    store.upsert(orders(order("1")))
    counts = store.upsert(orders(order("1", refunded_amount="30", status="partially_refunded",
                                       updated_at="2025-02-01T00:00:00Z")))
    assert (counts.inserted, counts.updated) == (0, 1)
    assert rows(store, "SELECT total - refunded_amount, status FROM orders") == [
        (Decimal("70.00"), "partially_refunded")]


def test_an_older_version_never_overwrites_a_newer_one(store: Store) -> None:
    store.upsert(orders(order("1", refunded_amount="30", updated_at="2025-02-01T00:00:00Z")))
    counts = store.upsert(orders(order("1", updated_at="2024-06-01T00:00:00Z")))
    assert (counts.updated, counts.stale) == (0, 1)
    assert rows(store, "SELECT refunded_amount FROM orders") == [(Decimal("30.00"),)]


def test_the_last_version_of_a_key_inside_a_batch_wins(store: Store) -> None:
    counts = store.upsert(orders(order("1", total="10", subtotal="10", updated_at=None),
                                 order("1", total="20", subtotal="20", updated_at=None)))
    assert (counts.inserted, counts.duplicates) == (1, 1)
    assert rows(store, "SELECT total FROM orders") == [(Decimal("20.00"),)]


def test_the_same_key_in_two_sources_is_two_records(store: Store) -> None:
    store.upsert(orders(order("1"), order("1", source="other")))
    assert rows(store, "SELECT source FROM orders ORDER BY source") == [("other",), ("shop",)]


def test_json_and_list_columns_round_trip(store: Store) -> None:
    store.upsert(customers({"source": "s", "customer_id": "1", "tags": ["a", "b"],
                            "attributes": {"size": "M", "kids": 2}}))
    assert rows(store, "SELECT tags, attributes FROM customers") == [
        (["a", "b"], '{"kids": 2, "size": "M"}')]
    again = store.upsert(customers({"source": "s", "customer_id": "1", "tags": ["a", "b"],
                                    "attributes": {"kids": 2, "size": "M"}}))
    assert again.unchanged == 1


def test_a_failed_batch_lands_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientela.store.store as store_module

    store.upsert(orders(order("1")))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "quarantine_rejections", broken)
    good, bad = validate_rows(Order, [order("2"), order("1", total="5.00", subtotal="5.00",
                                                         updated_at="2025-01-01T00:00:00Z"),
                                      {"source": "shop", "order_id": "x"}])
    with pytest.raises(RuntimeError, match="disk full"):
        store.write_batch(Order, good, rejections=bad, state=("shop", "orders", {"c": 2}))
    assert rows(store, "SELECT order_id, total FROM orders") == [("1", Decimal("100.00"))]
    assert store.get_state("shop", "orders") == {}
    monkeypatch.undo()
    result = store.write_batch(Order, good, rejections=bad, state=("shop", "orders", {"c": 2}))
    assert (result.counts.inserted, result.counts.updated, result.quarantined) == (1, 1, 1)


def test_quarantine_keeps_reason_and_payload_once_and_resolves_when_the_key_lands(
        store: Store) -> None:
    bad_row = {"source": "shop", "customer_id": "9", "email": "nope"}
    for _ in range(2):
        good, bad = validate_rows(Customer, [bad_row])
        result = store.write_batch(Customer, good, rejections=bad, source="shop")
    assert (result.rejected, result.quarantined) == (1, 0)
    assert rows(store, "SELECT source, entity, record_key, reason, payload FROM quarantine") == [(
        "shop", "Customer", "9",
        "Customer '9': field 'email': value 'nope' - expected an e-mail address like "
        "name@example.com",
        '{"customer_id": "9", "email": "nope", "source": "shop"}')]
    store.write_batch(Customer, customers({"source": "shop", "customer_id": "9",
                                           "email": "nine@example.com"}), source="shop")
    with store.transaction() as con:
        assert count_quarantined(con) == 0
        assert count_quarantined(con, include_resolved=True) == 1
        [row] = list_quarantined(con, include_resolved=True)
        assert (row.key, row.resolved_at is not None) == ("9", True)
        assert clear_quarantined(con, resolved_only=True) == 1


def test_a_cursor_commits_with_its_batch_and_can_be_reset(store: Store) -> None:
    store.write_batch(Order, orders(order("1")), state=("shop", "orders", {"after": "x"}))
    store.set_state("shop", "customers", {"page": 2})
    store.set_state("shop", "orders", {"after": "y"})
    assert store.get_state("shop", "orders") == {"after": "y"}
    assert store.reset_state("shop", ["orders"]) == 1
    assert (store.get_state("shop", "orders"), store.get_state("shop", "customers")) == (
        {}, {"page": 2})


def test_markers(store: Store) -> None:
    store.set_marker("loading", "the demo")
    store.set_marker("loading", "the demo, again")
    assert store.get_marker("loading") == "the demo, again"
    assert store.incomplete_load() is not None
    store.set_marker("loading", None)
    assert (store.get_marker("loading"), store.incomplete_load()) == (None, None)


def test_the_run_log(store: Store) -> None:
    first = store.start_run("push", "mailchimp:rfm")
    store.finish_run(first, "ok", {"read": 3})
    killed = store.start_run("push", "mailchimp:rfm")
    other = store.start_run("push", "hubspot:rfm")
    assert store.interrupt_runs("push", "killed", target_prefix="mailchimp:") == 1
    assert store.last_run_status("push", "mailchimp:rfm") == "interrupted"
    assert store.last_run_status("push", "hubspot:rfm") == "running"
    assert store.last_run_status("sync", "shop") is None
    log = {run["run_id"]: run for run in store.run_log(kind="push")}
    assert (log[first]["status"], log[first]["stats"]) == ("ok", {"read": 3})
    assert (log[killed]["status"], log[killed]["message"]) == ("interrupted", "killed")
    assert log[other]["finished_at"] is None


def test_customer_rows_feed_the_consent_ledger(store: Store) -> None:
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "Ana@Example.com",
                            "consent_email": "subscribed",
                            "updated_at": "2024-01-01T00:00:00Z"}))
    events = rows(store, "SELECT event_key, customer_id, channel, purpose, status, address, "
                         "occurred_at, source, evidence FROM consent_events")
    assert [e[1:] for e in events] == [(
        "c1", "email", "marketing", "opted_in", "ana@example.com", datetime(2024, 1, 1),
        "shop", "consent_email=subscribed on the shop customer record")]
    assert events[0][0] == event_key(*events[0][1:])  # the SQL key is the Python key
    current = rows(store, f"SELECT customer_id, channel, purpose, status, address FROM "
                          f"({current_sql()}) AS c")
    assert current == [("c1", "email", "marketing", "opted_in", "ana@example.com")]
    # the same row again states nothing new; an unsubscribe is a new event
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "Ana@Example.com",
                            "consent_email": "subscribed",
                            "updated_at": "2024-01-01T00:00:00Z"}))
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "Ana@Example.com",
                            "consent_email": "unsubscribed",
                            "updated_at": "2024-03-01T00:00:00Z"}))
    assert rows(store, "SELECT status, occurred_at FROM consent_events ORDER BY occurred_at") == [
        ("opted_in", datetime(2024, 1, 1)), ("opted_out", datetime(2024, 3, 1))]
    assert rows(store, f"SELECT status FROM ({current_sql()}) AS c") == [("opted_out",)]


def test_a_replaced_address_is_opted_out(store: Store) -> None:
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "old@example.com",
                            "consent_email": "subscribed",
                            "updated_at": "2024-01-01T00:00:00Z"}))
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "new@example.com",
                            "consent_email": "subscribed",
                            "updated_at": "2024-02-01T00:00:00Z"}))
    assert rows(store, "SELECT status, address, evidence FROM consent_events "
                       "ORDER BY recorded_at, status") == [
        ("opted_in", "old@example.com", "consent_email=subscribed on the shop customer record"),
        ("opted_out", "old@example.com",
         "address changed on the shop customer record: no longer theirs")]


def _message(key: str, customer_id: str) -> ledger.Planned:
    return ledger.Planned(message_key=key, origin_kind="journey", origin="welcome", step="1",
                          customer_id=customer_id, occurrence="1", purpose="marketing",
                          due_at=datetime(2024, 5, 1, 9), medium="email", channel="smtp",
                          address="ana@example.com", subject="Hi", body="Hello Ana")


def test_the_message_ledger_plans_once_and_erases(store: Store) -> None:
    planned = [_message("m1", "c1"), _message("m2", "c2")]
    assert ledger.plan(store.con, planned, now=datetime(2024, 4, 30)) == 2
    assert ledger.plan(store.con, planned, now=datetime(2024, 4, 30)) == 0
    assert ledger.existing_keys(store.con, ["m1", "m3"]) == {"m1"}
    with store.transaction() as con:
        assert erase_in(con, ["c1"], now=datetime(2024, 5, 2)) == 1
    assert rows(store, "SELECT message_key, status, reason, address, body FROM messages "
                       "ORDER BY message_key") == [
        ("m1", "suppressed", "forgotten", None, None),
        ("m2", "planned", None, "ana@example.com", "Hello Ana")]
    assert rows(store, "SELECT customer_id, forgotten_at FROM message_forgotten") == [
        ("c1", datetime(2024, 5, 2))]


def _sent(customer_id: str, email: str, segment: str | None, digest: str) -> SentRow:
    return SentRow("crm", "rfm", customer_id, email, segment, digest, datetime(2024, 5, 1),
                   "run1", "subscribed")


def _logged(customer_id: str, action: str = "create", outcome: str = "created") -> LogRow:
    return LogRow("run1", "crm", "rfm", customer_id, action, outcome, "champions", None, None,
                  datetime(2024, 5, 1))


def test_the_push_state_commits_a_batch_whole(store: Store) -> None:
    state = store.push_state
    state.commit_batch("crm", "rfm", sent=[_sent("c1", "a@x.com", "champions", "h1"),
                                           _sent("c2", "b@x.com", "loyal", "h2")],
                       deleted=[], old_addresses=[], log=[_logged("c1"), _logged("c2")])
    state.commit_batch("crm", "rfm", sent=[_sent("c1", "a@x.com", "loyal", "h3")],
                       deleted=["c2"], old_addresses=[], log=[_logged("c1", "update", "updated")])
    assert state.sent("crm", "rfm") == [("c1", "a@x.com", "loyal")]
    assert state.holders("a@x.com") == ["crm"]
    # a log row without its run violates NOT NULL: nothing of the batch lands
    with pytest.raises(Exception, match=r"(?i)null"):
        state.commit_batch("crm", "rfm", sent=[_sent("c9", "z@x.com", "loyal", "h9")],
                           deleted=["c1"], old_addresses=[],
                           log=[LogRow(None, "crm", "rfm", "c9", "create", "created",  # type: ignore[arg-type]
                                       None, None, None, datetime(2024, 5, 1))])
    assert state.sent("crm", "rfm") == [("c1", "a@x.com", "loyal")]
    assert rows(store, "SELECT count(*) FROM push_log") == [(3,)]
    state.forget_customers(["c1"])
    assert state.sent("crm", "rfm") == []
    assert state.last_read("crm") is None
    state.mark_read("crm", datetime(2024, 5, 1), "run1")
    state.mark_read("crm", datetime(2024, 6, 1), "run2")
    assert state.last_read("crm") == datetime(2024, 6, 1)


def test_an_erasure_request_is_reopened_until_done(store: Store) -> None:
    store.upsert(customers({"source": "shop", "customer_id": "c1", "email": "ana@example.com",
                            "first_name": "Ana", "consent_email": "subscribed"}))
    bad, rejected = validate_rows(Customer, [{"source": "shop", "customer_id": "c2",
                                              "email": "ana@example.com", "birth_date": "soon"}])
    store.write_batch(Customer, bad, rejections=rejected, source="shop")
    requests = store.forget_requests
    first = requests.open("ana@example.com")
    assert requests.open("ana@example.com") == first
    with store.transaction():
        ids = requests.customers_of("ana@example.com")
        requests.anonymise_customers(ids)
        requests.blank_consent_addresses(ids)
        assert requests.drop_quarantined("ana@example.com") == 1
        assert requests.note_customers(first, len(ids)) == 1
    assert rows(store, "SELECT email, first_name, consent_email FROM customers") == [
        (None, None, "unsubscribed")]
    assert rows(store, "SELECT address FROM consent_events") == [(None,)]
    requests.add_outcome(first, "crm", "failed", "timeout")
    requests.add_outcome(first, "crm", "deleted", "")
    assert requests.outcomes(first) == {"crm": "deleted"}
    requests.complete(first)
    assert rows(store, "SELECT status, email FROM forget_requests") == [("done", None)]
    assert requests.open("ana@example.com") != first


def test_a_source_is_removed_whole_and_a_dry_run_leaves_nothing(store: Store) -> None:
    store.upsert(orders(order("1"), order("2"), order("1", source="other")))
    store.upsert(customers({"source": "shop", "customer_id": "c1"}))
    assert store.remove_source("shop") == 3
    assert rows(store, "SELECT source, order_id FROM orders") == [("other", "1")]
    with store.rolled_back():
        store.push_state.mark_read("crm", datetime(2024, 5, 1), None)
        assert store.push_state.last_read("crm") == datetime(2024, 5, 1)
    assert store.push_state.last_read("crm") is None
