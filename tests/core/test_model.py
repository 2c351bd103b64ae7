from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from clientela.model import (
    ENTITIES,
    Customer,
    LoyaltyEvent,
    Order,
    RecordValidationError,
    entity_for,
    validate_one,
    validate_rows,
)
from clientela.model.schema import json_schemas, write_json_schemas

ORDER = {
    "source": "file",
    "order_id": "A-1",
    "status": "paid",
    "placed_at": "2025-03-01T10:00:00",
    "subtotal": "100.00",
    "discount": "10",
    "total": "90.005",
    "channel": " Online ",
}


def test_order_normalises_money_time_and_labels() -> None:
    order = validate_one(Order, ORDER, context={"timezone": "America/Sao_Paulo"})
    assert isinstance(order, Order)
    assert order.total == Decimal("90.01")  # half up to cents
    assert order.placed_at == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)  # 10:00 in Sao Paulo (UTC-3)
    assert order.channel == "online"
    assert order.natural_key() == "A-1"


def test_aware_timestamp_is_kept_as_the_same_instant() -> None:
    order = validate_one(Order, {**ORDER, "placed_at": "2025-03-01T10:00:00+02:00"},
                         context={"timezone": "America/Sao_Paulo"})
    assert isinstance(order, Order)
    assert order.placed_at == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_error_names_entity_key_field_value_and_expectation() -> None:
    with pytest.raises(RecordValidationError) as caught:
        validate_one(Order, {**ORDER, "total": "12,50"})
    assert str(caught.value) == (
        "Order 'A-1': field 'total': value '12,50' - expected a decimal number such as 1234.56 "
        "(add --decimal-comma for 1.234,56)"
    )


def test_every_problem_of_a_row_is_reported() -> None:
    _, bad = validate_rows(Order, [{"source": "file", "order_id": "B", "status": "lost",
                                    "placed_at": "2025-01-01", "subtotal": 1, "total": 1,
                                    "channel": "store", "colour": "red"}])
    fields = [problem.field for problem in bad[0].problems]
    assert fields == ["status", "colour"]
    assert "not a field of this entity" in bad[0].reason


def test_foreign_currency_without_rate_is_refused() -> None:
    raw = {**ORDER, "currency": "usd"}
    with pytest.raises(RecordValidationError, match="fx_rate is required for an order in USD"):
        validate_one(Order, raw, context={"reporting_currency": "BRL"})
    order = validate_one(Order, {**raw, "fx_rate": "5.1"}, context={"reporting_currency": "BRL"})
    assert isinstance(order, Order)
    assert order.fx_rate == Decimal("5.1")


def test_refund_cannot_exceed_total() -> None:
    with pytest.raises(RecordValidationError, match="refunded_amount must not exceed total"):
        validate_one(Order, {**ORDER, "refunded_amount": "90.02"})


def test_customer_from_file_cells() -> None:
    customer = validate_one(Customer, {
        "source": "file", "customer_id": 7, "email": " Ana@Example.COM ",
        "tags": "vip; newsletter", "attributes": '{"size": "M"}', "country": "br",
        "consent_email": "unsubscribed",
    })
    assert isinstance(customer, Customer)
    assert customer.customer_id == "7"
    assert customer.email == "ana@example.com"
    assert customer.tags == ["vip", "newsletter"]
    assert customer.attributes == {"size": "M"}
    assert customer.country == "BR"
    assert customer.consent_email == "unsubscribed"
    assert customer.consent_sms == "unknown"


def test_bad_email_is_refused() -> None:
    with pytest.raises(RecordValidationError, match="field 'email': value 'ana at example'"):
        validate_one(Customer, {"source": "f", "customer_id": "1", "email": "ana at example"})


def test_loyalty_points_sign_follows_kind() -> None:
    base = {"source": "f", "event_id": "e", "customer_id": "c", "occurred_at": "2025-01-01"}
    with pytest.raises(RecordValidationError, match="points must be negative for a 'redeem'"):
        validate_one(LoyaltyEvent, {**base, "kind": "redeem", "points": 100})
    assert validate_one(LoyaltyEvent, {**base, "kind": "redeem", "points": -100})


def test_entity_lookup_by_table_or_entity_name() -> None:
    assert entity_for("orders") is Order
    assert entity_for("Order") is Order
    assert entity_for("order-lines").table == "order_lines"
    with pytest.raises(LookupError, match="expected one of: customers, orders"):
        entity_for("ordr")


def test_json_schema_for_every_entity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    schemas = json_schemas()
    assert set(schemas) == {model.table for model in ENTITIES}
    assert set(schemas["orders"]["required"]) == {
        "source", "order_id", "status", "placed_at", "subtotal", "total", "channel"
    }
    paths = write_json_schemas(tmp_path / "schema")
    assert len(paths) == len(ENTITIES)
