"""Crashes: killed after spooling and before applying, killed between an apply's transactions.

`clientela serve` runs in a subprocess on a real port; SIGKILL gives it no
chance to flush or clean up, which is the point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from connectors.fakes.data import StoreData
from connectors.fakes.woocommerce import FakeWooCommerce
from connectors.helpers import snapshot

from clientela.testing.webhooks import serving as serve_in
from clientela.webhooks import Applier, Spool, build_mappers

from .helpers import CONTEXT, WOO_SECRET, body_of, post, rows, state, woo_headers

CONFIG = f"""
[workspace]
timezone = "UTC"
currency = "BRL"

[sources.woocommerce]
base_url = "https://shop.example"
consumer_key = "ck_x"
consumer_secret = "cs_x"
webhook_secret = "{WOO_SECRET}"
"""

@contextmanager
def serving(folder: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`clientela serve` in `folder` (clientela.testing.webhooks.serving): its URL and process."""
    with serve_in(folder, *options) as server:
        yield server.url, server.process


def deliver(url: str, woo: FakeWooCommerce, ids: list[int], prefix: str = "d") -> None:
    with requests.Session() as session:
        for order_id in ids:
            body = body_of(woo.order_json(woo.data.orders[order_id]))
            answer = post(f"{url}/webhooks/woocommerce", body,
                          woo_headers(body, f"{prefix}-{order_id}"), session)
            assert answer.status_code == 200, answer.text


def test_killed_after_the_200_and_before_applying_loses_nothing(
        tmp_path: Path, woo_render: FakeWooCommerce, shop: StoreData) -> None:
    (tmp_path / "clientela.toml").write_text(CONFIG)
    store_path, spool_path = tmp_path / "clientela.duckdb", tmp_path / "clientela.webhooks.sqlite"
    ids = sorted(shop.orders)[:40]
    with serving(tmp_path, "--no-apply") as (url, process):
        deliver(url, woo_render, ids)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    assert not store_path.exists() or rows(store_path, "SELECT count(*) FROM orders") == [(0,)]

    with serving(tmp_path) as (url, process):
        deliver(url, woo_render, ids[:5])  # the platform retries some: still duplicates
        process.send_signal(signal.SIGTERM)  # a clean stop applies what is left
        assert process.wait() in (0, -signal.SIGTERM)  # uvicorn re-raises it once stopped
    assert rows(store_path, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(40, 40)]
    spool = Spool(spool_path)
    assert state(store_path, "woocommerce") == dict.fromkeys(
        ("order_lines", "customers", "orders"), spool.last_seq("woocommerce"))
    spool.close()
    runs = rows(store_path, "SELECT count(*) FROM runs WHERE kind = 'webhooks'")

    with serving(tmp_path) as (url, process):  # a restart applies nothing twice
        process.send_signal(signal.SIGTERM)
        assert process.wait() in (0, -signal.SIGTERM)
    assert rows(store_path, "SELECT count(*) FROM runs WHERE kind = 'webhooks'") == runs
    spool = Spool(spool_path)
    assert spool.count("woocommerce") == 40
    spool.close()


KILL_DURING_APPLY = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.webhooks import Applier, Spool, build_mappers

    sections = json.loads(sys.argv[1])
    def die(source, stream, through):
        os.kill(os.getpid(), signal.SIGKILL)

    spool = Spool(sys.argv[2])
    Applier(spool, sys.argv[3], build_mappers(sections), batch_size=1000,
            context={"timezone": "UTC", "reporting_currency": "BRL"}, on_write=die).drain()
""")


def test_killed_between_an_apply_s_transactions_lands_each_event_exactly_once(
        tmp_path: Path, woo_render: FakeWooCommerce, shop: StoreData) -> None:
    import json

    sections = {"woocommerce": {"base_url": "https://shop.example", "consumer_key": "ck_x",
                                "consumer_secret": "cs_x", "webhook_secret": WOO_SECRET}}
    spool_path = tmp_path / "spool.sqlite"
    spool = Spool(spool_path).start()
    for order in list(shop.orders.values())[:120]:
        body = body_of(woo_render.order_json(order))
        assert spool.append("woocommerce", f"d-{order.id}", "order.updated", body)
    for person in list(shop.customers.values())[:30]:
        body = body_of(woo_render.customer_json(person))
        assert spool.append("woocommerce", f"c-{person.id}", "customer.updated", body)
    spool.close()

    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    script = tmp_path / "apply.py"
    script.write_text(KILL_DURING_APPLY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), json.dumps(sections), str(spool_path),
                           str(killed)], env=env, capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    # the first transaction (order lines, with their cursor) committed; the rest did not
    assert state(killed, "woocommerce") == {"order_lines": 150, "customers": 0, "orders": 0}

    written: list[str] = []
    resumed = Applier(Spool(spool_path), killed, build_mappers(sections), context=CONTEXT,
                      on_write=lambda source, stream, through: written.append(stream))
    assert resumed.drain() == 150
    assert written == ["customers", "orders"]  # the lines were not landed a second time
    Applier(Spool(spool_path), clean, build_mappers(sections), context=CONTEXT).drain()
    assert snapshot(killed) == snapshot(clean)
    assert rows(killed, "SELECT count(*) FROM orders") == [(120,)]
    assert rows(killed, "SELECT count(*) FROM customers") == [(30,)]
