"""Shopify against its fake: paged and bulk syncs, edits, the cost bucket, faults, resume."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_shopify import GraphQLError, ShopifyConfig, build_source
from pydantic import ValidationError

from clientela.http import HttpError
from clientela.testing.fake_server import VirtualClock
from clientela.testing.source_contract import SourceContract

from .fakes.data import StoreData
from .fakes.shopify import FakeShopify
from .helpers import expected_orders, rows, snapshot, stored_orders, sync


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def shop(store_data: StoreData, clock: VirtualClock) -> Iterator[FakeShopify]:
    with FakeShopify(store_data, clock=clock) as fake:
        yield fake


def config(fake: FakeShopify, **options: Any) -> ShopifyConfig:
    return ShopifyConfig(**{"base_url": fake.origin, "access_token": fake.token,
                            "bulk": "never", **options})


def source(fake: FakeShopify, clock: VirtualClock, **options: Any) -> Any:
    return build_source(config(fake, **options), sleep=clock.sleep, clock=clock)


def floor(fake: FakeShopify, orders_per_page: int = 50, customers_per_page: int = 250) -> int:
    return (math.ceil(len(fake.data.customers) / customers_per_page)
            + math.ceil(len(fake.data.orders) / orders_per_page))


def expected_customers(data: StoreData) -> list[tuple[Any, ...]]:
    consent = {True: "subscribed", False: "unsubscribed", None: "unknown"}
    return sorted((str(p.id), p.email, consent[p.subscribed],
                   "subscribed" if p.id % 4 == 0 else "unknown", p.region, p.last_name)
                  for p in data.customers.values())


def stored_customers(store_path: Path) -> list[tuple[Any, ...]]:
    return rows(store_path, "SELECT customer_id, email, consent_email, consent_sms, region, "
                            "last_name FROM customers ORDER BY customer_id")


class TestShopifyContract(SourceContract):
    """The shared source contract on the Shopify fake (GraphQL, paged), with a cost bucket the
    killed process (on its own clock) can never empty; plus what only Shopify shows: the
    operations, channels and shop-money amounts, the endCursor resume."""

    name, distribution = "shopify", "clientela-shopify"
    storm, retry_after = 25, "2.0"
    kill_settings: ClassVar[dict[str, Any]] = {"batch_rows": 500, "bulk_poll_seconds": 0.01}

    @pytest.fixture
    def fake(self, store_data: StoreData) -> Iterator[FakeShopify]:
        with FakeShopify(store_data, bucket_size=10**9, restore_rate=10**6,
                         max_query_cost=10**9) as server:
            yield server

    def settings(self, fake: FakeShopify, **options: Any) -> dict[str, Any]:
        return {"base_url": fake.origin, "access_token": fake.token, "bulk": "never",
                **options}

    def build(self, fake: FakeShopify, sleep: Any, **options: Any) -> Any:
        return build_source(ShopifyConfig(**self.settings(fake, **options)), sleep=sleep)

    def expected(self, fake: FakeShopify) -> Any:
        return expected_orders(fake.data), expected_customers(fake.data)

    def observed(self, store_path: Path) -> Any:
        return stored_orders(store_path), stored_customers(store_path)

    def full_sync_requests(self, fake: FakeShopify) -> int:
        return floor(fake)

    def extra_full(self, fake: FakeShopify, store_path: Path, summary: Any) -> None:
        assert set(fake.operations) == {"ClientelaCustomers", "ClientelaOrders"}
        # channel and location, amounts in shop money (BRL) even when the buyer paid in USD
        landed = {r[0]: r[1:] for r in rows(store_path, "SELECT order_id, channel, store_id, "
                                                        "currency, subtotal, coupon FROM orders")}
        for order in fake.data.orders.values():
            channel, store = fake.channel_of(order.id)
            assert landed[str(order.id)] == (channel, store, "BRL",
                                             order.subtotal.quantize(Decimal("0.01")),
                                             "PROMO10" if order.discount else None)
        assert any(fake.presentment_of(o) == "USD" for o in fake.data.orders)

    def edit(self, fake: FakeShopify) -> dict[str, int]:
        year_old = [o for o in fake.data.orders.values() if o.status == "fulfilled"
                    and not o.refunds and o.created < fake.data.now - timedelta(days=365)]
        full, partial = year_old[0], year_old[1]
        fake.refund(full.id)
        fake.refund(partial.id, Decimal("10.00"))
        person = next(p for p in fake.data.customers.values() if p.subscribed)
        fake.set_subscribed(person.id, False)
        self.edited = (full, partial, person)
        return {"orders": 2, "order_lines": len(full.lines) + len(partial.lines),
                "customers": 1}

    def extra_incremental(self, fake: FakeShopify, store_path: Path, summary: Any) -> None:
        full, partial, person = self.edited
        assert rows(store_path, f"SELECT order_id, status, refunded_amount FROM orders WHERE "
                                f"order_id IN ('{full.id}', '{partial.id}') ORDER BY 1") == [
            (str(full.id), "refunded", full.total),
            (str(partial.id), "partially_refunded", Decimal("10.00"))]
        assert rows(store_path, f"SELECT consent_email FROM customers "
                                f"WHERE customer_id = '{person.id}'") == [("unsubscribed",)]
        assert fake.count() == 2  # one page per stream

    def test_a_429_storm_is_waited_out_as_asked(self, fake: FakeShopify,
                                               tmp_path: Path) -> None:
        super().test_a_429_storm_is_waited_out_as_asked(fake, tmp_path)
        assert fake.count() == floor(fake) + 25 + fake.throttled_answers

    def extra_resume(self, fake: FakeShopify, store_path: Path, committed: int) -> None:
        # customers were done (re-read incrementally); orders continue after the last
        # committed page's endCursor, from a full-sync window (no search filter)
        calls = list(zip(fake.operations, fake.variables, strict=True))
        assert calls[0][0] == "ClientelaCustomers" and "updated_at:>=" in calls[0][1]["query"]
        first_orders = next(v for name, v in calls if name == "ClientelaOrders")
        assert first_orders["after"] is not None and first_orders["query"] is None
        assert fake.count() < len(fake.data.orders) // 50


def test_first_sync_through_bulk_operations_lands_the_same_store(
        shop: FakeShopify, clock: VirtualClock, tmp_path: Path) -> None:
    paged, bulk = tmp_path / "paged.duckdb", tmp_path / "bulk.duckdb"
    sync(paged, "shopify", source(shop, clock))
    shop.reset_log()
    shop.operations.clear()
    summary = sync(bulk, "shopify", source(shop, clock, bulk="always"))
    assert snapshot(bulk) == snapshot(paged)
    assert summary.totals()["quarantined"] == 0
    assert shop.bulk_runs == {"customers": 1, "orders": 1}
    assert "ClientelaOrders" not in shop.operations
    # per stream: one run, polls until COMPLETED, one download of the JSONL
    assert shop.count(path=".jsonl") == 2
    assert shop.count() == 2 * (1 + shop.bulk_polls) + 2
    # the cursor is the time the operation started: the next sync is incremental and paged
    shop.reset_log()
    shop.operations.clear()
    sync(bulk, "shopify", source(shop, clock, bulk="always"))
    assert shop.bulk_runs == {"customers": 1, "orders": 1}
    assert set(shop.operations) == {"ClientelaCustomers", "ClientelaOrders"}


def test_auto_mode_counts_first_and_uses_bulk_only_for_a_large_store(
        shop: FakeShopify, clock: VirtualClock, tmp_path: Path) -> None:
    sync(tmp_path / "a.duckdb", "shopify", source(shop, clock, bulk="auto",
                                                  bulk_threshold=1_000))
    assert shop.bulk_runs == {"orders": 1}  # 400 customers stay paged, 3,000 orders go bulk
    assert shop.operations.count("ClientelaCustomersCount") == 1
    assert shop.operations.count("ClientelaOrdersCount") == 1
    assert stored_orders(tmp_path / "a.duckdb") == expected_orders(shop.data)


class Crash(Exception):
    """Stands in for the process dying while it waits on Shopify."""


def test_a_restart_while_the_bulk_operation_runs_polls_the_same_operation(
        shop: FakeShopify, clock: VirtualClock, store_path: Path) -> None:
    shop.hold_bulk = True
    polls: list[float] = []

    def dies_on_third_wait(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            raise Crash

    crashing = build_source(config(shop, bulk="always"), sleep=dies_on_third_wait,
                            clock=clock)
    with pytest.raises(Crash):
        sync(store_path, "shopify", crashing)
    assert shop.bulk_runs == {"customers": 1}
    assert polls[1] > polls[0]  # the poll interval backs off
    held = rows(store_path, "SELECT count(*) FROM customers")[0][0]
    assert held == 0

    shop.hold_bulk = False
    sync(store_path, "shopify", source(shop, clock, bulk="always"))
    assert shop.bulk_runs == {"customers": 1, "orders": 1}
    assert shop.operations.count("ClientelaBulkRun") == 2
    assert stored_customers(store_path) == expected_customers(shop.data)
    assert stored_orders(store_path) == expected_orders(shop.data)


def test_an_operation_started_by_a_crashed_run_is_adopted_not_refused(
        shop: FakeShopify, clock: VirtualClock, store_path: Path) -> None:
    # a run died after Shopify created the operation but before its id was committed
    orphan = source(shop, clock, bulk="always")
    from clientela_shopify.queries import BULK_CUSTOMERS
    orphan_id, _ = orphan.bulk.start(BULK_CUSTOMERS)
    sync(store_path, "shopify", source(shop, clock, bulk="always"))
    assert shop.bulk_runs == {"customers": 1, "orders": 1}
    assert shop.operations.count("ClientelaBulkCurrent") == 1
    assert shop.bulk_ops[orphan_id].status == "COMPLETED"
    assert stored_customers(store_path) == expected_customers(shop.data)


def test_another_apps_bulk_query_in_progress_is_reported_clearly(
        shop: FakeShopify, clock: VirtualClock, store_path: Path) -> None:
    shop.hold_bulk = True
    foreign = source(shop, clock)
    foreign.bulk.start("{ customers { edges { node { id updatedAt emailMarketingConsent "
                       "{ marketingState } } } } }")
    with pytest.raises(GraphQLError) as caught:
        sync(store_path, "shopify", source(shop, clock, bulk="always"))
    message = str(caught.value)
    assert message.startswith("Shopify: ClientelaBulkRun failed: A bulk query operation for "
                              "this app and shop is already in progress")
    assert "bulkOperationCancel" in message


def test_an_expired_bulk_result_starts_a_new_operation(
        shop: FakeShopify, clock: VirtualClock, store_path: Path) -> None:
    shop.hold_bulk = True

    def dies(seconds: float) -> None:
        raise Crash

    with pytest.raises(Crash):
        sync(store_path, "shopify", build_source(config(shop, bulk="always"), sleep=dies,
                                                 clock=clock))
    first = next(iter(shop.bulk_ops.values()))
    first.status = "EXPIRED"
    shop.hold_bulk = False
    sync(store_path, "shopify", source(shop, clock, bulk="always"))
    assert shop.bulk_runs == {"customers": 2, "orders": 1}
    assert stored_customers(store_path) == expected_customers(shop.data)


def test_the_cost_bucket_is_respected_so_no_query_is_ever_throttled(
        store_data: StoreData, clock: VirtualClock, store_path: Path) -> None:
    with FakeShopify(store_data, clock=clock, bucket_size=1000, restore_rate=50) as fake:
        sync(store_path, "shopify", source(fake, clock))
        assert fake.throttled_answers == 0
        assert fake.count() == floor(fake)
        # the waits are what the bucket needs, not more: each order page nets
        # requested - refund = actual cost, restored at 50 points a second
        orders_pages = math.ceil(len(fake.data.orders) / 50)
        actual = sum(3 + min(10, len(o.lines)) for o in fake.data.orders.values())
        needed = (actual + 2 * orders_pages) / 50
        assert needed * 0.8 < sum(clock.slept) < needed * 1.2 + 30
        assert stored_orders(store_path) == expected_orders(fake.data)


def test_without_pacing_throttled_answers_are_retried_after_the_restore_time(
        store_data: StoreData, clock: VirtualClock, store_path: Path) -> None:
    with FakeShopify(store_data, clock=clock, bucket_size=1000, restore_rate=50) as fake:
        sync(store_path, "shopify", source(fake, clock, pace=False))
        assert fake.throttled_answers > 0
        assert len(clock.slept) == fake.throttled_answers
        assert fake.count() == floor(fake) + fake.throttled_answers
        assert all(0 < wait <= 1000 / 50 + 1 for wait in clock.slept)
        assert stored_orders(store_path) == expected_orders(fake.data)


def test_a_steady_storm_and_5xx_bursts_still_complete(shop: FakeShopify, clock: VirtualClock,
                                                      store_path: Path) -> None:
    shop.faults.every_nth_throttled = 3
    shop.faults.retry_after = None
    shop.faults.server_errors = 3
    shop.faults.server_error_status = 502
    sync(store_path, "shopify", source(shop, clock))
    assert shop.count(status=429) > 10 and shop.count(status=502) == 3
    assert stored_orders(store_path) == expected_orders(shop.data)


def test_a_wrong_token_fails_at_once_without_echoing_it(shop: FakeShopify,
                                                         clock: VirtualClock,
                                                         store_path: Path) -> None:
    with pytest.raises(HttpError) as caught:
        sync(store_path, "shopify", source(shop, clock, access_token="shpat_wrong_123456"))
    message = str(caught.value)
    assert message.startswith("Shopify: POST /admin/api/2025-01/graphql.json answered 401")
    assert "Invalid API key or access token" in message and "shpat_wrong" not in message
    assert shop.count() == 1 and clock.slept == []


def test_graphql_errors_are_surfaced_with_shopifys_words(store_data: StoreData,
                                                         clock: VirtualClock,
                                                         store_path: Path) -> None:
    with FakeShopify(store_data, clock=clock, max_query_cost=400) as fake:
        with pytest.raises(GraphQLError) as caught:
            sync(store_path, "shopify", source(fake, clock))
        assert str(caught.value) == (
            "Shopify: ClientelaCustomers failed: Query cost is 502, which exceeds the single "
            "query max cost limit (400). [MAX_COST_EXCEEDED]")
        assert fake.count() == 1  # not retried
        sync(store_path, "shopify", source(fake, clock, customers_per_page=100,
                                           orders_per_page=25))
        assert stored_orders(store_path) == expected_orders(fake.data)


def test_orders_with_more_lines_than_a_page_are_completed(shop: FakeShopify,
                                                          clock: VirtualClock,
                                                          store_path: Path) -> None:
    sync(store_path, "shopify", source(shop, clock, lines_per_order=2))
    long_orders = sum(1 for o in shop.data.orders.values() if len(o.lines) > 2)
    assert long_orders > 100
    assert shop.operations.count("ClientelaOrderLines") == long_orders
    assert stored_orders(store_path) == expected_orders(shop.data)


def test_malformed_records_go_to_quarantine_and_the_sync_goes_on(
        shop: FakeShopify, clock: VirtualClock, tmp_path: Path) -> None:
    ids = sorted(shop.data.orders)
    shop.broken = {ids[5]: {"createdAt": None},
                   ids[50]: {"totalPriceSet": {"shopMoney": {"amount": "12,50"}}},
                   ids[500]: {"id": None},
                   ids[900]: {"lineItems": "n/a"}}
    paged = tmp_path / "paged.duckdb"
    summary = sync(paged, "shopify", source(shop, clock))
    landed = {r[0] for r in stored_orders(paged)}
    assert landed == {str(i) for i in ids} - {str(ids[i]) for i in (5, 50, 500, 900)}
    reasons = dict(rows(paged, "SELECT record_key, reason FROM quarantine"))
    assert "createdAt" in reasons[str(ids[5])]
    assert "totalPriceSet.shopMoney.amount" in reasons[str(ids[50])]
    assert summary.totals()["quarantined"] == 4

    # in a bulk result a line can be broken outright: it and its orphaned lines are kept aside
    shop.broken = {}
    shop.garbled = {ids[7]}
    bulk = tmp_path / "bulk.duckdb"
    summary = sync(bulk, "shopify", source(shop, clock, bulk="always"))
    assert {r[0] for r in stored_orders(bulk)} == {str(i) for i in ids} - {str(ids[7])}
    quarantined = rows(bulk, "SELECT reason FROM quarantine ORDER BY reason")
    assert summary.totals()["quarantined"] == 1 + len(shop.data.orders[ids[7]].lines)
    assert "not valid JSON" in quarantined[-1][0]
    assert all("parent (gid://shopify/Order/" in r[0] for r in quarantined[:-1])


def test_config_refuses_plain_http_beyond_loopback_and_pins_the_version() -> None:
    with pytest.raises(ValidationError, match="HTTPS"):
        ShopifyConfig(base_url="http://shop.myshopify.com", access_token="x")
    shop = ShopifyConfig(base_url="my-shop.myshopify.com/admin/api/2024-01", access_token="x")
    assert shop.base_url == "https://my-shop.myshopify.com"
    assert shop.graphql_path == "admin/api/2025-01/graphql.json"
