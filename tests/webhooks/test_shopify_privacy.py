"""Shopify's mandatory privacy webhooks through `clientela serve`.

`customers/data_request` writes a JSON export of what the store holds about
the person; `customers/redact` erases them as `clientela forget` does (their
personal fields are gone, orders stay for the KPIs, the request is
recorded); `shop/redact` erases every customer the shop brought.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from connectors.fakes.data import StoreData

from clientela.privacy import email_digest
from clientela.testing.webhooks import RunningServe, serving

from .helpers import SHOPIFY_SECRET, body_of, rows
from .test_shopify_webhooks import APP_CHANNEL, rest_customer, rest_order

CONFIG = f"""
[workspace]
timezone = "UTC"
currency = "BRL"

[sources.shopify]
webhook_secret = "{SHOPIFY_SECRET}"
channel_map = {{ "2329312" = "instagram" }}
"""


def send(server: RunningServe, webhook_id: str, topic: str, payload: Any) -> None:
    answer = server.deliver("shopify", body_of(payload), {
        "Content-Type": "application/json", "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Shop-Domain": "demo.myshopify.com"},
        secret=SHOPIFY_SECRET)
    assert answer.status_code == 200, answer.text


def person_payload(shop: StoreData, customer_id: int) -> dict[str, Any]:
    person = shop.customers[customer_id]
    return {"shop_id": 954889, "shop_domain": "demo.myshopify.com",
            "customer": {"id": person.id, "email": person.email, "phone": None},
            "orders_requested": [o.id for o in shop.orders.values()
                                 if o.customer_id == customer_id]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    assert APP_CHANNEL == {"2329312": "instagram"}  # the table CONFIG spells out
    (tmp_path / "clientela.toml").write_text(CONFIG)
    return tmp_path


@pytest.fixture
def buyers(shop: StoreData) -> tuple[int, int]:
    """Two customers with orders: the one who asks, and one who must be left alone."""
    with_orders = sorted({o.customer_id for o in shop.orders.values() if o.customer_id})
    return with_orders[0], with_orders[1]


def land_people(server: RunningServe, shop: StoreData, ids: tuple[int, ...]) -> None:
    for cid in ids:
        send(server, f"c-{cid}", "customers/create", rest_customer(shop.customers[cid]))
        for order in sorted((o for o in shop.orders.values() if o.customer_id == cid),
                            key=lambda o: o.id):
            send(server, f"o-{order.id}", "orders/create", rest_order(order))


def test_data_request_exports_what_the_store_holds_about_the_person(
        folder: Path, shop: StoreData, buyers: tuple[int, int]) -> None:
    asking, other = buyers
    with serving(folder) as server:
        land_people(server, shop, buyers)
        send(server, "p-1", "customers/data_request", person_payload(shop, asking))
    exports = sorted((folder / "clientela.exports").glob("*.json"))
    assert len(exports) == 1
    person = shop.customers[asking]
    assert email_digest(person.email)[:16] in exports[0].name
    assert person.email not in exports[0].name
    document = json.loads(exports[0].read_text())
    tables = document["tables"]
    assert [(c["customer_id"], c["email"], c["first_name"], c["last_name"])
            for c in tables["customers"]] == [
        (str(asking), person.email, person.first_name, person.last_name)]
    theirs = sorted((o for o in shop.orders.values() if o.customer_id == asking),
                    key=lambda o: o.id)
    assert sorted(int(o["order_id"]) for o in tables["orders"]) == [o.id for o in theirs]
    assert len(tables["order_lines"]) == sum(len(o.lines) for o in theirs)
    assert {int(line["order_id"]) for line in tables["order_lines"]} == {o.id for o in theirs}
    assert shop.customers[other].email not in exports[0].read_text()


def test_customer_redact_erases_the_person_and_keeps_their_orders(
        folder: Path, shop: StoreData, buyers: tuple[int, int]) -> None:
    asking, other = buyers
    store = folder / "clientela.duckdb"
    with serving(folder) as server:
        land_people(server, shop, buyers)
        send(server, "r-1", "customers/redact", person_payload(shop, asking))
    kept = shop.customers[other]
    assert rows(store, "SELECT customer_id, email, first_name, last_name, consent_email "
                "FROM customers ORDER BY customer_id::INT") == [
        (str(asking), None, None, None, "unsubscribed"),
        (str(other), kept.email, kept.first_name, kept.last_name,
         "subscribed" if kept.subscribed else "unsubscribed" if kept.subscribed is False
         else "unknown"),
    ]
    theirs = sum(1 for o in shop.orders.values() if o.customer_id == asking)
    assert rows(store, f"SELECT count(*) FROM orders WHERE customer_id = '{asking}'") == [
        (theirs,)]
    assert rows(store, "SELECT email_digest, email, status, customers FROM forget_requests") == [
        (email_digest(shop.customers[asking].email), None, "done", 1)]


def test_shop_redact_erases_every_customer_of_the_shop(
        folder: Path, shop: StoreData, buyers: tuple[int, int]) -> None:
    store = folder / "clientela.duckdb"
    with serving(folder) as server:
        land_people(server, shop, buyers)
        send(server, "s-1", "shop/redact", {"shop_id": 954889,
                                            "shop_domain": "demo.myshopify.com"})
    assert rows(store, "SELECT count(*), count(email), count(first_name), count(last_name) "
                "FROM customers") == [(2, 0, 0, 0)]
    assert rows(store, "SELECT count(*) FROM forget_requests WHERE status = 'done'") == [(2,)]
