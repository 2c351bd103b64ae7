"""Shared by the webhook tests: signed deliveries, a live uvicorn server, store reads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import uvicorn
from starlette.applications import Starlette

from clientela.store import Store
from clientela.webhooks import sign

CONTEXT = {"timezone": "UTC", "reporting_currency": "BRL"}
WOO_SECRET = "woo-webhook-secret-0123456789"
SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789ab"
NUVEM_SECRET = "nuvem-app-secret-abcdef012345"
SECRETS = {"woocommerce": (WOO_SECRET,), "shopify": (SHOPIFY_SECRET,),
           "nuvemshop": (NUVEM_SECRET,)}


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def woo_headers(body: bytes, delivery: str, topic: str = "order.updated",
                secret: str = WOO_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Delivery-ID": delivery, "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Signature": sign(secret, body, "base64")}


def shopify_headers(body: bytes, webhook_id: str, topic: str = "orders/updated",
                    secret: str = SHOPIFY_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Shop-Domain": "demo.myshopify.com",
            "X-Shopify-Hmac-Sha256": sign(secret, body, "base64")}


def nuvem_headers(body: bytes, secret: str = NUVEM_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json",
            "X-Linkedstore-HMAC-SHA256": sign(secret, body, "hex")}


@contextmanager
def live(app: Starlette) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1, on a port the OS picks."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def post(url: str, body: bytes, headers: Mapping[str, str],
         session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(url, data=body, headers=dict(headers), timeout=30)


def rows(store_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with Store(store_path) as store:
        return store.con.execute(sql).fetchall()


def state(store_path: Path, source: str) -> dict[str, int]:
    with Store(store_path) as store:
        return {stream: int(store.get_state(source, f"webhooks.{stream}").get(
            "applied_through", 0)) for stream in ("order_lines", "customers", "orders")}
