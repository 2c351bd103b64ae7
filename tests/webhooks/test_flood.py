"""10,000 deliveries on loopback, with replays mixed in: each spooled once, all applied."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from connectors.fakes.data import generate
from connectors.fakes.woocommerce import FakeWooCommerce

from clientela.webhooks import Receiver, create_app

from .helpers import body_of, live, post, rows, state, woo_headers

FLOOD = 10_000
REPLAYS = 500
CLIENTS = 16


def test_a_flood_of_10_000_is_spooled_exactly_once_and_applied(
        make: Callable[..., Receiver], store_path: Path) -> None:
    shop = generate(customers=200, orders=FLOOD, seed=3)
    woo = FakeWooCommerce(shop)
    deliveries = [(f"flood-{order.id}", body_of(woo.order_json(order)))
                  for order in shop.orders.values()]
    deliveries += random.Random(1).sample(deliveries, REPLAYS)
    random.Random(2).shuffle(deliveries)
    receiver = make(max_waiting=64)  # at most 64 deliveries wait for the disk at once
    assert receiver.applier is not None
    receiver.applier.batch_size = 1_000

    with live(create_app(receiver)) as url:
        def send(chunk: list[tuple[str, bytes]]) -> list[str]:
            with requests.Session() as session:
                return [post(f"{url}/webhooks/woocommerce", body, woo_headers(body, delivery),
                             session).json()["status"] for delivery, body in chunk]

        chunks = [deliveries[n::CLIENTS] for n in range(CLIENTS)]
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [status for result in pool.map(send, chunks) for status in result]
        assert answers.count("accepted") == FLOOD and answers.count("duplicate") == REPLAYS
        assert receiver.spool.count("woocommerce") == FLOOD
        assert receiver.stats.accepted == FLOOD and receiver.stats.duplicates == REPLAYS
        assert receiver.spool.commits <= FLOOD
        last = receiver.spool.last_seq("woocommerce")  # ignored replays may burn numbers

    assert rows(store_path, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [
        (FLOOD, FLOOD)]
    assert rows(store_path, "SELECT count(*) FROM order_lines") == [
        (sum(len(o.lines) for o in shop.orders.values()),)]
    assert state(store_path, "woocommerce") == dict.fromkeys(
        ("order_lines", "customers", "orders"), last)
    assert receiver.applier.stats.applied == FLOOD
