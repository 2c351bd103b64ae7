"""The receiver on a live uvicorn server: valid, forged, missing, replayed, per platform."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from connectors.fakes.data import StoreData
from connectors.fakes.woocommerce import FakeWooCommerce

from clientela.connectors import Mapped
from clientela.webhooks import Receiver, create_app, sign
from clientela.webhooks.mappers import PayloadEvents

from .conftest import NuvemshopRecords
from .helpers import (
    NUVEM_SECRET,
    SHOPIFY_SECRET,
    WOO_SECRET,
    body_of,
    live,
    nuvem_headers,
    post,
    rows,
    shopify_headers,
    state,
    woo_headers,
)


def first_order(shop: StoreData, **where: object) -> int:
    return next(o.id for o in shop.orders.values()
                if all(getattr(o, k) == v for k, v in where.items()))


def test_a_valid_woocommerce_delivery_is_spooled_then_applied(
        make: Callable[..., Receiver], woo_render: FakeWooCommerce, shop: StoreData,
        store_path: Path) -> None:
    receiver = make()
    order = shop.orders[first_order(shop, status="paid")]
    body = body_of(woo_render.order_json(order))
    with live(create_app(receiver)) as url:
        answer = post(f"{url}/webhooks/woocommerce", body, woo_headers(body, "d-1"))
        assert answer.status_code == 200 and answer.json() == {"status": "accepted"}
        assert receiver.spool.count("woocommerce") == 1
    # shutdown drains what the background applier had not reached yet
    assert rows(store_path, f"SELECT status, total, source FROM orders "
                            f"WHERE order_id = '{order.id}'") == [
        ("paid", order.total.quantize(Decimal("0.01")), "woocommerce")]
    assert rows(store_path, f"SELECT count(*) FROM order_lines WHERE order_id = '{order.id}'") \
        == [(len(order.lines),)]
    assert state(store_path, "woocommerce") == {"order_lines": 1, "customers": 1, "orders": 1}


@pytest.mark.parametrize("forge", ["wrong secret", "tampered body", "missing signature",
                                   "hex for base64", "empty signature"])
def test_forged_or_unsigned_deliveries_get_401_and_touch_nothing(
        make: Callable[..., Receiver], woo_render: FakeWooCommerce, shop: StoreData,
        store_path: Path, forge: str) -> None:
    receiver = make()
    body = body_of(woo_render.order_json(next(iter(shop.orders.values()))))
    headers = woo_headers(body, "d-1")
    sent = body
    if forge == "wrong secret":
        headers = woo_headers(body, "d-1", secret="not-the-secret")
    elif forge == "tampered body":
        sent = body.replace(b'"total":', b'"total": ', 1)
    elif forge == "missing signature":
        del headers["X-WC-Webhook-Signature"]
    elif forge == "hex for base64":
        headers["X-WC-Webhook-Signature"] = sign(WOO_SECRET, body, "hex")
    else:
        headers["X-WC-Webhook-Signature"] = ""
    with live(create_app(receiver)) as url:
        answer = post(f"{url}/webhooks/woocommerce", sent, headers)
        assert answer.status_code == 401
        assert receiver.spool.count() == 0 and receiver.stats.refused == 1
    assert rows(store_path, "SELECT count(*) FROM orders") == [(0,)]


def test_a_replayed_delivery_is_accepted_once_and_applied_once(
        make: Callable[..., Receiver], woo_render: FakeWooCommerce, shop: StoreData,
        store_path: Path) -> None:
    receiver = make()
    order = shop.orders[first_order(shop, status="fulfilled")]
    body = body_of(woo_render.order_json(order))
    with live(create_app(receiver, apply_in_background=False)) as url:
        first = post(f"{url}/webhooks/woocommerce", body, woo_headers(body, "same-id"))
        again = post(f"{url}/webhooks/woocommerce", body, woo_headers(body, "same-id"))
        with ThreadPoolExecutor(8) as pool:  # copies racing each other
            racing = list(pool.map(lambda _: post(f"{url}/webhooks/woocommerce", body,
                                                  woo_headers(body, "same-id")), range(16)))
        assert first.json() == {"status": "accepted"}
        assert again.status_code == 200 and again.json() == {"status": "duplicate"}
        assert all(r.json() == {"status": "duplicate"} for r in racing)
        assert receiver.spool.count() == 1 and receiver.stats.duplicates == 17
    assert receiver.applier is not None and receiver.applier.stats.applied == 1
    assert rows(store_path, "SELECT count(*) FROM orders") == [(1,)]
    assert rows(store_path, "SELECT count(*) FROM runs WHERE kind = 'webhooks'") == [(1,)]


def test_the_woocommerce_ping_is_answered_without_spooling(make: Callable[..., Receiver]) -> None:
    receiver = make()
    with live(create_app(receiver)) as url:
        answer = requests.post(f"{url}/webhooks/woocommerce", data=b"webhook_id=42",
                               headers={"Content-Type": "application/x-www-form-urlencoded"},
                               timeout=10)
        assert answer.status_code == 200 and receiver.spool.count() == 0
        # anything else unsigned is refused, even form-shaped
        forged = requests.post(f"{url}/webhooks/woocommerce", data=b"webhook_id=42&x=1",
                               timeout=10)
        assert forged.status_code == 401


def test_a_platform_without_a_secret_is_not_served(make: Callable[..., Receiver],
                                                   tmp_path: Path) -> None:
    receiver = make()
    receiver.secrets = {"woocommerce": (WOO_SECRET,)}
    with live(create_app(receiver)) as url:
        body = b'{"id": 1}'
        assert post(f"{url}/webhooks/shopify", body, shopify_headers(body, "w1")).status_code \
            == 404
        assert post(f"{url}/webhooks/magento", body, {}).status_code == 404
        assert requests.get(f"{url}/healthz", timeout=10).json() == {
            "status": "ok", "platforms": ["woocommerce"]}


def test_nuvemshop_deliveries_are_verified_in_hex_and_refetched(
        make: Callable[..., Receiver], nuvem: NuvemshopRecords, shop: StoreData,
        store_path: Path) -> None:
    receiver = make()
    order = shop.orders[first_order(shop, status="fulfilled")]
    good = body_of({"store_id": int(nuvem.store_id), "event": "order/paid", "id": order.id})
    gone = body_of({"store_id": int(nuvem.store_id), "event": "order/updated", "id": 999})
    other = body_of({"store_id": 777, "event": "order/updated", "id": order.id})
    with live(create_app(receiver, apply_in_background=False)) as url:
        hook = f"{url}/webhooks/nuvemshop"
        assert post(hook, good, nuvem_headers(good)).status_code == 200
        assert post(hook, good, nuvem_headers(good)).json() == {"status": "accepted"}  # no id
        assert post(hook, gone, nuvem_headers(gone)).status_code == 200
        assert post(hook, other, nuvem_headers(other)).status_code == 200
        b64 = {"X-Linkedstore-HMAC-SHA256": sign(NUVEM_SECRET, good, "base64")}
        assert post(hook, good, b64).status_code == 401
    fetched = [e for e in nuvem.log if e.path.endswith(f"/orders/{order.id}")]
    assert len(fetched) == 1  # two deliveries for one order in a batch: one refetch
    assert rows(store_path, f"SELECT status, source FROM orders WHERE order_id = '{order.id}'") \
        == [("fulfilled", "nuvemshop")]
    reasons = dict(rows(store_path, "SELECT record_key, reason FROM quarantine"))
    assert "404" in reasons["999"] and "not the configured store" in reasons[str(order.id)]


def test_records_that_cannot_be_mapped_go_to_quarantine(
        make: Callable[..., Receiver], woo_render: FakeWooCommerce, shop: StoreData,
        store_path: Path) -> None:
    receiver = make()
    ids = list(shop.orders)[:3]
    broken = woo_render.order_json(shop.orders[ids[0]])
    del broken["date_created_gmt"]
    odd = woo_render.order_json(shop.orders[ids[1]]) | {"status": "teleported"}
    fine = woo_render.order_json(shop.orders[ids[2]])
    with live(create_app(receiver, apply_in_background=False)) as url:
        for n, payload in enumerate([broken, odd, fine]):
            body = body_of(payload)
            assert post(f"{url}/webhooks/woocommerce", body,
                        woo_headers(body, f"m-{n}")).status_code == 200
        not_json = b"{not json"
        assert post(f"{url}/webhooks/woocommerce", not_json,
                    woo_headers(not_json, "m-3")).status_code == 200
    assert rows(store_path, "SELECT order_id FROM orders") == [(str(ids[2]),)]
    reasons = dict(rows(store_path, "SELECT record_key, reason FROM quarantine"))
    assert "date_created_gmt" in reasons[str(ids[0])]
    assert "status_map" in reasons[str(ids[1])]
    assert "not valid JSON" in reasons["m-3"]


def test_shopify_is_spooled_until_a_mapper_exists_then_applied(
        make: Callable[..., Receiver], mappers: dict[str, object], store_path: Path,
        tmp_path: Path) -> None:
    body = body_of({"id": 450789469, "email": "bob@example.com", "updated_at":
                    "2024-03-01T10:00:00-03:00", "created_at": "2024-02-01T10:00:00-03:00",
                    "total_price": "199.00", "currency": "BRL", "line_items": []})
    receiver = make(mappers={**mappers, "shopify": None})  # a platform without a mapper yet
    with live(create_app(receiver)) as url:
        assert post(f"{url}/webhooks/shopify", body,
                    shopify_headers(body, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")).json() == {
            "status": "accepted"}
        forged = shopify_headers(body, "x", secret="shpss_wrong")
        assert post(f"{url}/webhooks/shopify", body, forged).status_code == 401
    assert receiver.spool.count("shopify") == 1
    assert rows(store_path, "SELECT count(*) FROM orders") == [(0,)]

    def order(raw: object) -> Mapped:  # stands in for clientela_shopify's mapper
        assert isinstance(raw, dict)
        return Mapped({"order_id": str(raw["id"]), "status": "paid", "currency": "BRL",
                       "placed_at": raw["created_at"], "updated_at": raw["updated_at"],
                       "subtotal": raw["total_price"], "total": raw["total_price"],
                       "channel": "online"})

    stub = PayloadEvents("shopify", order, order)
    later = make(mappers={**mappers, "shopify": stub})
    assert later.applier is not None and later.applier.drain() == 1
    assert rows(store_path, "SELECT order_id, total FROM orders") == [
        ("450789469", Decimal("199.00"))]
    later.spool.close()


def test_secrets_and_signatures_never_reach_the_logs(
        make: Callable[..., Receiver], woo_render: FakeWooCommerce, shop: StoreData,
        caplog: pytest.LogCaptureFixture) -> None:
    receiver = make()
    body = body_of(woo_render.order_json(next(iter(shop.orders.values()))))
    caplog.set_level(logging.DEBUG)
    with live(create_app(receiver)) as url:
        post(f"{url}/webhooks/woocommerce", body, woo_headers(body, "l-1", secret="forged"))
        post(f"{url}/webhooks/woocommerce", body, woo_headers(body, "l-2"))
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(receiver)
    for secret in (WOO_SECRET, SHOPIFY_SECRET, NUVEM_SECRET, sign(WOO_SECRET, body, "base64")):
        assert secret not in logged
    assert "wrong signature" in logged
