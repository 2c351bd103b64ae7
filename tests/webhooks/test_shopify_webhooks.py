"""Shopify webhooks (REST-shaped bodies) land exactly the rows a GraphQL sync lands.

The REST bodies are rendered here from the same neutral store the fake GraphQL
API serves, in the shapes Shopify's order and customer webhooks carry (snake
case, shop-local offsets, `*_set` money bags, refunds with transactions, tags
as one string). Each test delivers them, signed, through the live receiver,
runs a GraphQL sync of the same store into a second database, and compares
the rows column for column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clientela_shopify import ShopifyConfig, build_source
from clientela_shopify.webhooks import RestMapper, WebhookSettings, refunded_total
from connectors.fakes.data import CENT, StoreCustomer, StoreData, StoreOrder
from connectors.fakes.shopify import PRESENTMENT_RATE, FakeShopify
from connectors.helpers import sync

from clientela.store import Store
from clientela.testing.fake_server import VirtualClock
from clientela.webhooks import EventMapper, Receiver, build_mappers, create_app

from .helpers import SHOPIFY_SECRET, body_of, live, post, shopify_headers

SHOP_TZ = timezone(timedelta(hours=-3))
EDITED = datetime.now(UTC).replace(microsecond=0)
"""When the merchant's edits happen: after every generated time (all a day old or more), and
not in the future, since a record dated more than a day ahead is quarantined."""
APP_CHANNEL = {"2329312": "instagram"}
"""The fake's app-channel orders: REST has no channel handle, so both sides map the app id."""


# -- REST renderings of the neutral store ---------------------------------------------------

def local(when: datetime | None) -> str | None:
    return when.astimezone(SHOP_TZ).isoformat() if when else None


def money_set(amount: Decimal, shown: str) -> dict[str, Any]:
    presented = amount if shown == "BRL" else (amount * PRESENTMENT_RATE).quantize(CENT)
    return {"shop_money": {"amount": f"{amount:.2f}", "currency_code": "BRL"},
            "presentment_money": {"amount": f"{presented:.2f}", "currency_code": shown}}


def rest_order(order: StoreOrder) -> dict[str, Any]:
    shown = FakeShopify.presentment_of(order.id)
    channel, location = FakeShopify.channel_of(order.id)
    source = {"store": "pos", "instagram": "2329312"}.get(channel, "web")
    financial = FakeShopify.financial_status(order).lower()
    after_discounts = order.subtotal - order.discount
    share = (order.discount / len(order.lines)).quantize(CENT) if order.discount else None
    body: dict[str, Any] = {
        "id": order.id, "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
        "name": f"#{order.id}", "created_at": local(order.created),
        "updated_at": local(order.updated), "processed_at": local(order.created),
        "cancelled_at": local(order.updated) if order.status == "cancelled" else None,
        "cancel_reason": "customer" if order.status == "cancelled" else None,
        "financial_status": financial,
        "fulfillment_status": "fulfilled" if order.status == "fulfilled" else None,
        "currency": "BRL", "presentment_currency": shown, "source_name": source,
        "location_id": int(location) if location else None,
        "customer": {"id": order.customer_id, "email": f"person{order.customer_id}@example.com",
                     "admin_graphql_api_id": f"gid://shopify/Customer/{order.customer_id}"}
        if order.customer_id else None,
        "discount_codes": [{"code": "PROMO10", "amount": f"{order.discount:.2f}",
                            "type": "fixed_amount"}] if order.discount else [],
        "discount_applications": [{"type": "discount_code", "code": "PROMO10",
                                   "value": f"{order.discount:.2f}",
                                   "value_type": "fixed_amount", "allocation_method": "across",
                                   "target_selection": "all", "target_type": "line_item"}]
        if order.discount else [],
        "subtotal_price": f"{after_discounts:.2f}",
        "subtotal_price_set": money_set(after_discounts, shown),
        "total_discounts": f"{order.discount:.2f}",
        "total_discounts_set": money_set(order.discount, shown),
        "total_tax": "0.00", "total_tax_set": money_set(Decimal("0"), shown),
        "total_price": f"{order.total:.2f}", "total_price_set": money_set(order.total, shown),
        # after refunds: what a careless mapper would take for the total
        "current_total_price": f"{order.total - order.refunded:.2f}",
        "total_shipping_price_set": money_set(order.shipping, shown),
        "shipping_lines": [{"id": order.id * 10, "title": "Standard",
                            "price": f"{order.shipping:.2f}",
                            "price_set": money_set(order.shipping, shown)}]
        if order.shipping else [],
        "line_items": [{
            "id": line.id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line.id}",
            "product_id": line.product_id, "variant_id": line.product_id * 100,
            "sku": line.sku, "title": line.name, "name": line.name,
            "quantity": line.quantity, "current_quantity": line.quantity,
            "price": f"{line.price:.2f}", "price_set": money_set(line.price, shown),
            "total_discount": "0.00",
            "discount_allocations": [{"amount": f"{share:.2f}",
                                      "amount_set": money_set(share, shown),
                                      "discount_application_index": 0}] if share else [],
        } for line in order.lines],
        "refunds": [{
            "id": rid, "order_id": order.id, "created_at": local(order.updated),
            "transactions": [
                {"id": rid * 10, "kind": "refund", "status": "success",
                 "amount": f"{money_set(amount, shown)['presentment_money']['amount']}",
                 "currency": shown},
                {"id": rid * 10 + 1, "kind": "refund", "status": "failure",
                 "amount": "999.00", "currency": shown}],
        } for rid, amount in order.refunds],
    }
    return body


def rest_customer(person: StoreCustomer) -> dict[str, Any]:
    state = {True: "subscribed", False: "unsubscribed", None: "not_subscribed"}[
        person.subscribed]
    return {
        "id": person.id, "admin_graphql_api_id": f"gid://shopify/Customer/{person.id}",
        "email": person.email, "phone": f"+55119{person.id:08d}",
        "first_name": person.first_name, "last_name": person.last_name,
        "created_at": local(person.created), "updated_at": local(person.updated),
        "state": "enabled", "tags": "vip" if person.id % 5 == 0 else "",
        "default_address": {"city": person.city, "province_code": person.region,
                            "country_code": person.country, "default": True},
        "email_marketing_consent": {"state": state, "opt_in_level": "single_opt_in",
                                    "consent_updated_at": local(person.updated)},
        "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                  "consent_updated_at": None,
                                  "consent_collected_from": "OTHER"}
        if person.id % 4 == 0 else None,
    }


# -- fixtures and reading back ------------------------------------------------------------

@pytest.fixture
def shopify_mappers() -> dict[str, EventMapper | None]:
    return build_mappers({"shopify": {"webhook_secret": SHOPIFY_SECRET,
                                      "channel_map": APP_CHANNEL}})


@pytest.fixture
def receiver(make: Callable[..., Receiver],
             shopify_mappers: dict[str, EventMapper | None]) -> Iterator[Receiver]:
    yield make(mappers=shopify_mappers)


def graphql_sync(data: StoreData, path: Path) -> None:
    clock = VirtualClock()
    with FakeShopify(data, clock=clock) as fake:
        config = ShopifyConfig(base_url=fake.origin, access_token=fake.token, bulk="never",
                               channel_map=APP_CHANNEL)
        summary = sync(path, "shopify", build_source(config, sleep=clock.sleep, clock=clock))
    assert summary.totals()["quarantined"] == 0


def table(path: Path, name: str, key: str, ids: list[int]) -> list[tuple[Any, ...]]:
    """Every column but the load time, for these records."""
    with Store(path) as store:
        cols = [c for (c,) in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND column_name <> '_loaded_at' ORDER BY ordinal_position", [name]).fetchall()]
        marks = ", ".join("?" for _ in ids)
        return store.con.execute(
            f"SELECT {', '.join(cols)} FROM {name} WHERE {key} IN ({marks}) ORDER BY ALL",
            [str(i) for i in ids]).fetchall()


def pick(data: StoreData, test: Callable[[StoreOrder], bool],
         taken: Sequence[StoreOrder] = ()) -> StoreOrder:
    """The first order passing `test` that is not `taken` already."""
    return next(o for o in sorted(data.orders.values(), key=lambda o: o.id)
                if test(o) and o not in taken)


def deliver(url: str, deliveries: list[tuple[str, str, bytes]]) -> list[dict[str, Any]]:
    answers = []
    for webhook_id, topic, body in deliveries:
        answer = post(f"{url}/webhooks/shopify", body, shopify_headers(body, webhook_id, topic))
        assert answer.status_code == 200
        answers.append(answer.json())
    return answers


# -- tests --------------------------------------------------------------------------------

def test_order_and_customer_webhooks_land_the_rows_a_graphql_sync_lands(
        receiver: Receiver, shop: StoreData, store_path: Path, tmp_path: Path) -> None:
    refunded = pick(shop, lambda o: o.status == "fulfilled" and not o.refunds
                    and FakeShopify.presentment_of(o.id) == "BRL" and o.discount > 0)
    chosen = [refunded]
    for test in (
            lambda o: FakeShopify.presentment_of(o.id) == "USD" and o.discount > 0
            and not o.refunds,                                     # buyer paid in USD
            lambda o: o.id % 10 == 0,                              # POS, with a location
            lambda o: o.id % 10 == 1,                              # an app's channel
            lambda o: o.status == "cancelled",
            lambda o: o.status == "pending",
            lambda o: o.customer_id is None):                      # a guest
        chosen.append(pick(shop, test, chosen))
    person = shop.customers[next(p for p in sorted(shop.customers) if p % 20 == 0
                                 and shop.customers[p].subscribed)]
    deliveries = [(f"create-{o.id}", "orders/create", body_of(rest_order(o))) for o in chosen]
    deliveries.append((f"cust-{person.id}", "customers/create", body_of(rest_customer(person))))

    # the merchant refunds a quarter of one order and the customer unsubscribes
    refunded.refunds.append((shop.next_id(), (refunded.total / 4).quantize(CENT)))
    refunded.updated = EDITED
    person.subscribed = False
    person.updated = EDITED
    deliveries += [
        (f"upd-{refunded.id}", "orders/updated", body_of(rest_order(refunded))),
        (f"upd-{person.id}", "customers/update", body_of(rest_customer(person))),
    ]
    with live(create_app(receiver, apply_in_background=False)) as url:
        assert deliver(url, deliveries) == [{"status": "accepted"}] * len(deliveries)

    synced = tmp_path / "synced.duckdb"
    graphql_sync(shop, synced)

    ids = [o.id for o in chosen]
    for name in ("orders", "order_lines"):
        landed = table(store_path, name, "order_id", ids)
        assert landed == table(synced, name, "order_id", ids)
        assert landed  # not two empty lists
    assert table(store_path, "customers", "customer_id", [person.id]) == \
        table(synced, "customers", "customer_id", [person.id])

    # and the values themselves, from the neutral store
    quarter = (refunded.total / 4).quantize(CENT)
    with Store(store_path) as store:
        assert store.con.execute(
            "SELECT order_id, status, total, refunded_amount, subtotal, discount, coupon, "
            "currency, channel, updated_at FROM orders WHERE order_id = ?",
            [str(refunded.id)]).fetchall() == [
            (str(refunded.id), "partially_refunded", refunded.total.quantize(CENT), quarter,
             refunded.subtotal.quantize(CENT), refunded.discount.quantize(CENT), "PROMO10",
             "BRL", "online", EDITED.replace(tzinfo=None))]  # stored as UTC
        assert store.con.execute(
            "SELECT consent_email, consent_sms, tags, region FROM customers "
            "WHERE customer_id = ?", [str(person.id)]).fetchall() == [
            ("unsubscribed", "subscribed", ["vip"], person.region)]
        assert store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert receiver.applier is not None
    assert receiver.applier.stats.applied == len(deliveries)


def test_a_record_without_an_id_is_quarantined_and_the_rest_applied(
        receiver: Receiver, shop: StoreData, store_path: Path) -> None:
    good, bad = sorted(shop.orders)[:2]
    nameless = rest_order(shop.orders[bad])
    del nameless["id"]
    customer = rest_customer(next(iter(shop.customers.values())))
    customer["id"] = None
    with live(create_app(receiver, apply_in_background=False)) as url:
        deliver(url, [("q-1", "orders/updated", body_of(nameless)),
                      ("q-2", "orders/paid", body_of(rest_order(shop.orders[good]))),
                      ("q-3", "customers/update", body_of(customer))])
    with Store(store_path) as store:
        assert store.con.execute("SELECT order_id FROM orders").fetchall() == [(str(good),)]
        quarantined = store.con.execute(
            "SELECT entity, record_key, reason FROM quarantine ORDER BY entity").fetchall()
    assert [(entity, key) for entity, key, _ in quarantined] == [("Customer", "?"),
                                                                  ("Order", "?")]
    assert all("field 'id'" in reason and "a value is required" in reason
               for _, _, reason in quarantined)


def test_a_replayed_delivery_is_applied_once(receiver: Receiver, shop: StoreData,
                                             store_path: Path) -> None:
    order = shop.orders[sorted(shop.orders)[3]]
    body = body_of(rest_order(order))
    with live(create_app(receiver, apply_in_background=False)) as url:
        answers = deliver(url, [("same", "orders/create", body)] * 3)
    assert answers == [{"status": "accepted"}, {"status": "duplicate"}, {"status": "duplicate"}]
    assert receiver.applier is not None and receiver.applier.stats.applied == 1
    with Store(store_path) as store:
        assert store.con.execute("SELECT count(*) FROM orders").fetchone() == (1,)
        assert store.con.execute("SELECT count(*) FROM order_lines").fetchone() == (
            len(order.lines),)
        assert store.con.execute(
            "SELECT count(*) FROM runs WHERE kind = 'webhooks'").fetchone() == (1,)


def test_topics_that_carry_no_order_or_customer_are_ignored(
        receiver: Receiver, shop: StoreData, store_path: Path) -> None:
    order = shop.orders[sorted(shop.orders)[0]]
    with live(create_app(receiver, apply_in_background=False)) as url:
        deliver(url, [
            ("i-1", "orders/edited", body_of({"order_edit": {"id": 1, "order_id": order.id}})),
            ("i-2", "orders/delete", body_of({"id": order.id})),
            ("i-3", "refunds/create", body_of({"id": 9, "order_id": order.id,
                                               "transactions": []})),
            ("i-4", "customers/delete", body_of({"id": 5})),
        ])
    assert receiver.applier is not None
    assert (receiver.applier.stats.applied, receiver.applier.stats.ignored) == (0, 4)
    with Store(store_path) as store:
        assert store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
        assert store.con.execute("SELECT count(*) FROM orders").fetchone() == (0,)


def test_refunds_are_shop_money_and_line_discounts_follow_graphql() -> None:
    mapper = RestMapper(WebhookSettings())
    order = {
        "id": 7, "created_at": "2024-03-01T10:00:00-03:00", "currency": "BRL",
        "financial_status": "partially_refunded", "source_name": "web",
        "total_price_set": {"shop_money": {"amount": "500.00", "currency_code": "BRL"},
                            "presentment_money": {"amount": "100.00", "currency_code": "USD"}},
        "subtotal_price": "480.00", "total_discounts": "20.00",
        "discount_applications": [
            {"type": "automatic", "target_selection": "entitled", "allocation_method": "each"},
            {"type": "discount_code", "target_selection": "entitled",
             "allocation_method": "across"}],
        "line_items": [{"id": 1, "price": "250.00", "quantity": 2, "discount_allocations": [
            {"amount": "15.00", "discount_application_index": 0},
            {"amount": "5.00", "discount_application_index": 1}]}],
        "refunds": [{"transactions": [
            {"kind": "refund", "status": "success", "amount": "10.00", "currency": "USD"},
            {"kind": "refund", "status": "success", "amount": "3.00", "currency": "USD",
             "amount_set": {"shop_money": {"amount": "14.90", "currency_code": "BRL"}}},
            {"kind": "refund", "status": "pending", "amount": "1.00", "currency": "USD"},
            {"kind": "sale", "status": "success", "amount": "100.00", "currency": "USD"}]}],
    }
    assert refunded_total(order, "BRL") == Decimal("64.90")  # 10 USD at 5, then shop money
    mapped = mapper.order(order)
    assert (mapped.row["status"], mapped.row["refunded_amount"], mapped.row["subtotal"],
            mapped.row["total"]) == ("partially_refunded", Decimal("64.90"),
                                     Decimal("500.00"), Decimal("500.00"))
    # the automatic line discount is taken off the line, the code's is left to the order
    assert [(line["discount"], line["total"]) for line in mapped.children["order_lines"]] == [
        (Decimal("15.00"), Decimal("500.00"))]
