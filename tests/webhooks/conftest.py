"""Fixtures for the webhook tests: payloads rendered by the platform fakes, spools, appliers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connectors.fakes.data import StoreData, generate
from connectors.fakes.nuvemshop import FakeNuvemshop
from connectors.fakes.woocommerce import FakeWooCommerce

from clientela import plugins
from clientela.testing.fake_server import Reply, Request
from clientela.webhooks import Applier, EventMapper, Receiver, Spool, build_mappers

from .helpers import CONTEXT, NUVEM_SECRET, SECRETS, WOO_SECRET

SOURCES_WITH_WEBHOOKS = "clientela-shopify,clientela-woocommerce,clientela-nuvemshop"


@pytest.fixture(autouse=True)
def webhook_sources(isolated: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The three store platforms' plugins load (they declare the webhooks the receiver
    serves); subprocesses inherit the setting."""
    monkeypatch.setenv(plugins.LOAD_ENV, SOURCES_WITH_WEBHOOKS)
    plugins.reset(forget_local=True)
    yield
    plugins.reset(forget_local=True)


@pytest.fixture
def shop() -> StoreData:
    return generate(customers=60, orders=300, seed=5)


@pytest.fixture
def woo_render(shop: StoreData) -> FakeWooCommerce:
    """Never started: only its order and customer JSON (REST v3 shapes, as webhooks carry)."""
    return FakeWooCommerce(shop)


class NuvemshopRecords(FakeNuvemshop):
    """The fake plus `GET /orders/{id}` and `/customers/{id}`, which webhook refetches use."""

    def _resource(self, request: Request) -> Reply:
        resource = request.path[len(self.api_prefix) + 1:].strip("/")
        kind, _, record = resource.partition("/")
        if not record:
            return super()._resource(request)
        if kind == "orders" and record.isdigit() and int(record) in self.data.orders:
            return Reply(200, self.order_json(self.data.orders[int(record)]))
        if kind == "customers" and record.isdigit() and int(record) in self.data.customers:
            return Reply(200, self.customer_json(self.data.customers[int(record)]))
        return Reply(404, {"code": 404, "message": "Not Found", "description": "Not found"})


@pytest.fixture
def nuvem(shop: StoreData) -> Iterator[NuvemshopRecords]:
    with NuvemshopRecords(shop) as fake:
        yield fake


@pytest.fixture
def sections(nuvem: NuvemshopRecords) -> dict[str, dict[str, Any]]:
    return {
        "woocommerce": {"base_url": "https://shop.example", "consumer_key": "ck_x",
                        "consumer_secret": "cs_x", "webhook_secret": WOO_SECRET},
        "nuvemshop": {"base_url": nuvem.origin + "/v1", "store_id": nuvem.store_id,
                      "access_token": nuvem.token, "user_agent": "tests (dev@example.com)",
                      "webhook_secret": NUVEM_SECRET},
        "shopify": {"shop": "demo", "webhook_secret": SECRETS["shopify"][0]},
    }


@pytest.fixture
def mappers(sections: dict[str, dict[str, Any]]) -> dict[str, EventMapper | None]:
    return build_mappers(sections)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "clientela.duckdb"


@pytest.fixture
def make(tmp_path: Path, store_path: Path, mappers: dict[str, EventMapper | None]
         ) -> Iterator[Callable[..., Receiver]]:
    """A receiver over a fresh spool, with an applier on the test store."""
    made: list[Spool] = []

    def build(**options: Any) -> Receiver:
        spool = Spool(tmp_path / "spool.sqlite")
        made.append(spool)
        applier = Applier(spool, store_path, options.pop("mappers", mappers), context=CONTEXT)
        return Receiver(spool, SECRETS, applier=applier, **options)

    yield build
