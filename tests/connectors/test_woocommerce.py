"""WooCommerce against its fake: full and incremental syncs, faults, crash and resume."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_woocommerce import WooCommerceConfig, build_source
from pydantic import ValidationError

from clientela.http import HttpError
from clientela.testing.source_contract import SourceContract

from .conftest import Sleeps
from .fakes.data import StoreData
from .fakes.woocommerce import FakeWooCommerce
from .helpers import expected_orders, rows, stored_orders, sync

ORDERS, CUSTOMERS = 3_000, 400
FLOOR = math.ceil(ORDERS / 100) + math.ceil(CUSTOMERS / 100)


def config(fake: FakeWooCommerce, **options: Any) -> WooCommerceConfig:
    return WooCommerceConfig(base_url=fake.origin, consumer_key=fake.key,
                             consumer_secret=fake.secret, **options)


def source(fake: FakeWooCommerce, sleeps: Sleeps | None = None, **options: Any) -> Any:
    return build_source(config(fake, **options), sleep=sleeps or Sleeps())


class TestWooCommerceContract(SourceContract):
    """The shared source contract (clientela.testing.source_contract) on the WooCommerce fake,
    plus what only WooCommerce shows: its request count, its query parameters, its pages."""

    name, distribution = "woocommerce", "clientela-woocommerce"
    storm = 12
    kill_settings: ClassVar[dict[str, int]] = {"batch_rows": 100}  # dies after page 2

    @pytest.fixture
    def fake(self, store_data: StoreData) -> Iterator[FakeWooCommerce]:
        with FakeWooCommerce(store_data) as server:
            yield server

    def settings(self, fake: FakeWooCommerce, **options: Any) -> dict[str, Any]:
        return {"base_url": fake.origin, "consumer_key": fake.key,
                "consumer_secret": fake.secret, **options}

    def build(self, fake: FakeWooCommerce, sleep: Any, **options: Any) -> Any:
        return source(fake, sleep, **options)

    def expected(self, fake: FakeWooCommerce) -> Any:
        consent = {True: "subscribed", False: "unsubscribed", None: "unknown"}
        lines = [ln for o in fake.data.orders.values() for ln in o.lines]
        return (expected_orders(fake.data),
                sorted((str(p.id), p.email, consent[p.subscribed])
                       for p in fake.data.customers.values()),
                (sum(ln.quantity for ln in lines), sum(ln.price * ln.quantity for ln in lines)))

    def observed(self, store_path: Path) -> Any:
        return (stored_orders(store_path),
                rows(store_path, "SELECT customer_id, email, consent_email FROM customers "
                                 "ORDER BY customer_id"),
                rows(store_path, "SELECT sum(quantity), sum(total) FROM order_lines")[0])

    def full_sync_requests(self, fake: FakeWooCommerce) -> int:
        return FLOOR  # ceil(N / 100) per stream, not one request more

    def edit(self, fake: FakeWooCommerce) -> dict[str, int]:
        old = next(o for o in fake.data.orders.values()
                   if o.status == "fulfilled" and not o.refunds
                   and o.created < fake.data.now - timedelta(days=365))
        fake.refund(old.id, Decimal("10.00"))
        person = next(p for p in fake.data.customers.values() if p.subscribed)
        fake.set_subscribed(person.id, False)
        self.edited = (old, person)
        return {"orders": 1, "order_lines": len(old.lines)}  # customers: a full refresh

    def extra_full(self, fake: FakeWooCommerce, store_path: Path, summary: Any) -> None:
        assert {r[0] for r in rows(store_path, "SELECT DISTINCT source FROM orders")} == {
            "woocommerce"}

    def extra_incremental(self, fake: FakeWooCommerce, store_path: Path, summary: Any) -> None:
        old, person = self.edited
        assert rows(store_path, f"SELECT refunded_amount, status FROM orders "
                                f"WHERE order_id = '{old.id}'") == [(Decimal("10.00"),
                                                                     "partially_refunded")]
        assert rows(store_path, f"SELECT consent_email FROM customers "
                                f"WHERE customer_id = '{person.id}'") == [("unsubscribed",)]
        orders_calls = [e for e in fake.log if e.path.endswith("/orders")]
        assert len(orders_calls) == 1 and "modified_after" in orders_calls[0].query
        assert orders_calls[0].query["dates_are_gmt"] == "true"
        assert "after" not in orders_calls[0].query

    def test_a_429_storm_is_waited_out_as_asked(self, fake: FakeWooCommerce,
                                               tmp_path: Path) -> None:
        super().test_a_429_storm_is_waited_out_as_asked(fake, tmp_path)
        assert fake.count() == FLOOR + 12

    def extra_resume(self, fake: FakeWooCommerce, store_path: Path, committed: int) -> None:
        resumed = [e.query.get("page") for e in fake.log if e.path.endswith("/orders")]
        # picks up after the last committed page (100 orders each), not from the start
        assert int(resumed[0]) == committed // 100 + 1


def test_a_steady_storm_without_retry_after_still_completes(woo: FakeWooCommerce,
                                                           store_path: Path,
                                                           sleeps: Sleeps) -> None:
    woo.faults.every_nth_throttled = 3
    woo.faults.retry_after = None
    sync(store_path, "woocommerce", source(woo, sleeps))
    throttled = woo.count(status=429)
    assert woo.count() == FLOOR + throttled and throttled >= FLOOR // 3
    assert set(sleeps.waits) == {2.0}  # the policy's default wait when the server says nothing
    assert stored_orders(store_path) == expected_orders(woo.data)


def test_5xx_bursts_and_connection_resets_are_retried_with_jittered_backoff(
        woo: FakeWooCommerce, store_path: Path, sleeps: Sleeps) -> None:
    woo.faults.server_errors = 3
    woo.faults.resets = 2
    sync(store_path, "woocommerce", source(woo, sleeps))
    assert woo.count(resets=True) == 2 and woo.count(status=503) == 3
    assert woo.count() == FLOOR + 5
    assert len(sleeps.waits) == 5 and all(0 <= w <= 60 for w in sleeps.waits)
    assert stored_orders(store_path) == expected_orders(woo.data)


def test_retries_give_up_after_the_budget_with_a_clear_error(woo: FakeWooCommerce,
                                                             store_path: Path) -> None:
    woo.faults.server_errors = 100
    with pytest.raises(HttpError) as caught:
        sync(store_path, "woocommerce", source(woo, max_attempts=4))
    assert woo.count() == 4
    assert str(caught.value).startswith("WooCommerce: GET /wp-json/wc/v3/customers answered 503")


@pytest.mark.parametrize(("options", "status", "code"), [
    ({"consumer_secret": "cs_wrong_secret_value"}, 401, "woocommerce_rest_authentication_error"),
    ({"customer_role": "vip"}, 400, "rest_invalid_param"),
    ({"base_url": "/wp-json/wc/v9"}, 404, "rest_no_route"),
])
def test_other_4xx_are_never_retried(woo: FakeWooCommerce, store_path: Path, sleeps: Sleeps,
                                     options: dict[str, str], status: int, code: str) -> None:
    if "base_url" in options:
        options = {"base_url": woo.origin + options["base_url"]}
    settings = {"base_url": woo.origin, "consumer_key": woo.key,
                "consumer_secret": woo.secret, **options}
    with pytest.raises(HttpError) as caught:
        sync(store_path, "woocommerce",
             build_source(WooCommerceConfig(**settings), sleep=sleeps))
    assert woo.count() == 1 and sleeps.waits == []
    error = caught.value
    assert (error.status, error.code, error.platform) == (status, code, "WooCommerce")
    assert "/customers" in str(error) and str(status) in str(error)
    for secret in (woo.key, woo.secret, "cs_wrong_secret_value"):
        assert secret not in str(error)


def test_query_string_auth_keeps_the_keys_out_of_messages(woo: FakeWooCommerce,
                                                          store_path: Path) -> None:
    sync(store_path, "woocommerce", source(woo, auth="query"))
    assert stored_orders(store_path) == expected_orders(woo.data)
    woo.faults.server_errors = 100
    with pytest.raises(HttpError) as caught:
        sync(store_path, "woocommerce", source(woo, auth="query", max_attempts=1))
    assert woo.key not in str(caught.value) and "?" not in str(caught.value)


def test_plain_http_is_refused_beyond_loopback() -> None:
    with pytest.raises(ValidationError, match="only over HTTPS"):
        WooCommerceConfig(base_url="http://shop.example.com", consumer_key="ck_x",
                          consumer_secret="cs_y")
    secure = WooCommerceConfig(base_url="https://shop.example.com/", consumer_key="ck_x",
                               consumer_secret="cs_y")
    assert secure.base_url == "https://shop.example.com/wp-json/wc/v3"
    assert "cs_y" not in repr(secure)


def test_malformed_json_and_records_missing_fields_go_to_quarantine(
        woo: FakeWooCommerce, store_path: Path) -> None:
    ids = sorted(woo.data.orders)
    broken = {ids[5], ids[1_206], ids[2_999]}
    woo.malformed = {str(i) for i in broken}
    woo.missing = {str(ids[700]): ["id"], str(ids[1_500]): ["date_created_gmt"],
                   str(ids[1_800]): ["line_items"]}
    summary = sync(store_path, "woocommerce", source(woo))
    skip = broken | {ids[700], ids[1_500]}
    landed = {r[0] for r in stored_orders(store_path)}
    assert landed == {str(i) for i in ids} - {str(i) for i in skip}
    reasons = dict(rows(store_path, "SELECT record_key, reason FROM quarantine"))
    assert {str(i) for i in broken} | {str(ids[1_500])} <= set(reasons)
    assert "not valid JSON" in reasons[str(ids[5])]
    assert "date_created_gmt" in reasons[str(ids[1_500])]
    assert "?" in reasons and "no id" in reasons["?"]
    assert summary.totals()["quarantined"] == 5
    assert woo.count() == FLOOR  # no page was fetched twice to get there


def test_a_record_changed_during_the_sync_is_caught_by_the_lookback(
        woo: FakeWooCommerce, store_path: Path, tmp_path: Path) -> None:
    first = min(woo.data.orders)

    def late_commit(request: Any, number: int) -> None:
        # page 10 of orders: the first order (page 1) changes, stamped 2 minutes in the
        # past as a slow transaction would be, so it falls before the new cursor.
        if request.path.endswith("/orders") and request.query.get("page") == "10":
            woo.touch(first, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2),
                      shipping=Decimal("99.00"))

    woo.on_request = late_commit
    sync(store_path, "woocommerce", source(woo))
    woo.on_request = None
    assert rows(store_path, f"SELECT shipping FROM orders WHERE order_id = '{first}'") \
        != [(Decimal("99.00"),)]
    sync(store_path, "woocommerce", source(woo))
    assert rows(store_path, f"SELECT shipping FROM orders WHERE order_id = '{first}'") \
        == [(Decimal("99.00"),)]

    # the same story without a lookback loses the change: the window is what saves it
    woo.data.orders[first].shipping = Decimal("0")
    other = tmp_path / "no_lookback.duckdb"
    woo.on_request = late_commit
    sync(other, "woocommerce", source(woo, lookback_minutes=0))
    woo.on_request = None
    sync(other, "woocommerce", source(woo, lookback_minutes=0))
    assert rows(other, f"SELECT shipping FROM orders WHERE order_id = '{first}'") \
        != [(Decimal("99.00"),)]


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.store import Store
    from clientela.sync import run_sync
    from clientela_woocommerce import WooCommerceConfig, build_source

    config = WooCommerceConfig.model_validate(json.loads(sys.argv[1]))
    kill_after = int(sys.argv[2])

    def die(stream, batch):
        if batch.stream.name == "orders" and batch.state is not None:
            if batch.state.get("window") and batch.state["window"]["resume"] > kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    with Store(sys.argv[3]) as store:
        run_sync(store, "woocommerce", build_source(config),
                 context={"timezone": "UTC", "reporting_currency": "BRL"}, on_batch=die)
""")


def test_clientela_sync_woocommerce_from_the_command_line(
        woo: FakeWooCommerce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins
    from clientela.cli.app import main

    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-woocommerce")
    monkeypatch.setenv("WC_SECRET", woo.secret)
    plugins.reset(forget_local=True)
    (tmp_path / "clientela.toml").write_text(textwrap.dedent(f"""
        [workspace]
        timezone = "UTC"
        currency = "BRL"

        [sources.woocommerce]
        base_url = "{woo.origin}"
        consumer_key = "{woo.key}"
        consumer_secret = "${{WC_SECRET}}"
    """))
    assert main(["sync", "woocommerce"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "customers" in out and woo.secret not in out
    assert stored_orders(tmp_path / "clientela.duckdb") == expected_orders(woo.data)
