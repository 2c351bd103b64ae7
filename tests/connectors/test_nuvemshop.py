"""Nuvemshop against its fake: syncs, the leaky bucket, faults, crash and resume."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_nuvemshop import NuvemshopConfig, build_source
from pydantic import ValidationError

from clientela.http import HttpError
from clientela.testing.fake_server import VirtualClock
from clientela.testing.source_contract import SourceContract

from .fakes.data import StoreData
from .fakes.nuvemshop import DEFAULT_PAYMENT, FakeNuvemshop
from .helpers import expected_orders, rows, stored_orders, sync


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def nuvem(store_data: StoreData, clock: VirtualClock) -> Iterator[FakeNuvemshop]:
    with FakeNuvemshop(store_data, clock=clock) as fake:
        yield fake


def config(fake: FakeNuvemshop, **options: Any) -> NuvemshopConfig:
    settings = {"base_url": fake.origin + "/v1", "store_id": fake.store_id,
                "access_token": fake.token, "user_agent": "clientela tests (dev@example.com)",
                **options}
    return NuvemshopConfig(**settings)


def source(fake: FakeNuvemshop, clock: VirtualClock, **options: Any) -> Any:
    return build_source(config(fake, **options), sleep=clock.sleep)


def floor(fake: FakeNuvemshop) -> int:
    """Requests a full sync needs: every listing's pages, an empty listing costing one."""
    by_status: dict[str, int] = {}
    for order in fake.data.orders.values():
        status = fake.payment_status(order)
        key = "default" if status in DEFAULT_PAYMENT else status
        by_status[key] = by_status.get(key, 0) + 1
    listings = [by_status.get(k, 0) for k in ("default", "refunded", "voided")]
    listings.append(len(fake.data.customers))
    return sum(max(1, math.ceil(n / 200)) for n in listings)


class TestNuvemshopContract(SourceContract):
    """The shared source contract on the Nuvemshop fake, plus what only Nuvemshop shows: its
    request count, its `updated_at_min` filter, its Link-header resume."""

    name, distribution = "nuvemshop", "clientela-nuvemshop"
    storm = 9
    exact_waits = False  # the bucket headers pace requests too
    kill_settings: ClassVar[dict[str, int]] = {"per_page": 100, "batch_rows": 500}

    def storm_wait(self, fake: FakeNuvemshop) -> float:
        return 0.5  # a 429 is waited out from the bucket headers: one slot at 2 per second

    @pytest.fixture
    def fake(self, store_data: StoreData, clock: VirtualClock) -> Iterator[FakeNuvemshop]:
        with FakeNuvemshop(store_data, clock=clock) as server:
            self.clock = clock
            yield server

    def settings(self, fake: FakeNuvemshop, **options: Any) -> dict[str, Any]:
        settings = config(fake, **options).model_dump(mode="json")
        settings["access_token"] = fake.token
        return settings

    def build(self, fake: FakeNuvemshop, sleep: Any, **options: Any) -> Any:
        def both(seconds: float) -> None:  # the fake's bucket leaks on the virtual clock
            self.clock.sleep(seconds)
            sleep(seconds)

        return build_source(config(fake, **options), sleep=both)

    def expected(self, fake: FakeNuvemshop) -> Any:
        # the order resource only says "refunded": a partial refund counts in full
        refunded = ("refunded", "partially_refunded")
        consent = {True: "subscribed", False: "unsubscribed", None: "unknown"}
        return ([(*row[:3], row[2] if row[4] in refunded else row[3],
                  "refunded" if row[4] in refunded else row[4], row[5])
                 for row in expected_orders(fake.data)],
                sorted((str(p.id), p.email, consent[p.subscribed], p.last_name)
                       for p in fake.data.customers.values()))

    def observed(self, store_path: Path) -> Any:
        return (stored_orders(store_path),
                rows(store_path, "SELECT customer_id, email, consent_email, last_name "
                                 "FROM customers ORDER BY customer_id"))

    def full_sync_requests(self, fake: FakeNuvemshop) -> int:
        return floor(fake)

    def extra_full(self, fake: FakeNuvemshop, store_path: Path, summary: Any) -> None:
        first = fake.log[0]
        assert first.query["per_page"] == "200" and "updated_at_min" not in first.query

    def edit(self, fake: FakeNuvemshop) -> dict[str, int]:
        old = next(o for o in fake.data.orders.values() if o.status == "fulfilled"
                   and not o.refunds and o.created < fake.data.now - timedelta(days=365))
        fake.refund(old.id)
        person = next(p for p in fake.data.customers.values() if p.subscribed)
        fake.set_subscribed(person.id, False)
        self.edited = (old, person)
        return {"orders": 1, "order_lines": len(old.lines), "customers": 1}

    def extra_incremental(self, fake: FakeNuvemshop, store_path: Path, summary: Any) -> None:
        old, person = self.edited
        assert rows(store_path, f"SELECT status, refunded_amount = total FROM orders "
                                f"WHERE order_id = '{old.id}'") == [("refunded", True)]
        assert rows(store_path, f"SELECT consent_email FROM customers "
                                f"WHERE customer_id = '{person.id}'") == [("unsubscribed",)]
        assert all("updated_at_min" in entry.query for entry in fake.log)
        assert fake.count() == 4  # one page per listing: orders x3 passes, customers

    def test_a_429_storm_is_waited_out_as_asked(self, fake: FakeNuvemshop,
                                               tmp_path: Path) -> None:
        super().test_a_429_storm_is_waited_out_as_asked(fake, tmp_path)
        assert fake.count() == floor(fake) + 9

    def extra_resume(self, fake: FakeNuvemshop, store_path: Path, committed: int) -> None:
        first_orders = next(e for e in fake.log if e.path.endswith("/orders"))
        assert first_orders.query.get("page", "1") != "1"  # resumed from the saved Link


def test_the_bucket_headers_pace_requests_so_no_429_is_ever_hit(
        store_data: StoreData, clock: VirtualClock, store_path: Path) -> None:
    with FakeNuvemshop(store_data, clock=clock, bucket_size=5, leak_per_second=2) as fake:
        sync(store_path, "nuvemshop", source(fake, clock, per_page=50))
        assert fake.count(status=429) == 0
        requests_made = fake.count()
        assert requests_made > 60
        # past the burst, each call waits for one slot: half a second at 2 per second
        assert sum(clock.slept) == pytest.approx(0.5 * (requests_made - 5 + 2), abs=1.0)


def test_without_pacing_429s_are_waited_out_from_the_bucket_headers(
        store_data: StoreData, clock: VirtualClock, store_path: Path) -> None:
    with FakeNuvemshop(store_data, clock=clock, bucket_size=5, leak_per_second=2) as fake:
        sync(store_path, "nuvemshop", source(fake, clock, per_page=50, pace=False))
        throttled = fake.count(status=429)
        assert throttled > 0 and len(clock.slept) == throttled
        assert all(w == pytest.approx(0.5) for w in clock.slept)
        assert read_all(store_path) == len(store_data.orders)


def read_all(store_path: Path) -> int:
    return int(rows(store_path, "SELECT count(*) FROM orders")[0][0])


def test_5xx_bursts_are_survived(nuvem: FakeNuvemshop, clock: VirtualClock,
                                 store_path: Path) -> None:
    sync(store_path, "nuvemshop", source(nuvem, clock))
    nuvem.reset_log()
    nuvem.faults.server_errors = 3
    nuvem.faults.server_error_status = 502
    other = store_path.with_name("other.duckdb")
    sync(other, "nuvemshop", source(nuvem, clock))
    assert nuvem.count() == floor(nuvem) + 3 and nuvem.count(status=502) == 3
    assert stored_orders(other) == stored_orders(store_path)


@pytest.mark.parametrize(("options", "status", "words"), [
    ({"access_token": "tok_wrong_value_12345"}, 401, "Invalid access token"),
    ({"store_id": "999"}, 404, "Store not found"),
])
def test_other_4xx_are_never_retried(nuvem: FakeNuvemshop, clock: VirtualClock,
                                     store_path: Path, options: dict[str, Any], status: int,
                                     words: str) -> None:
    with pytest.raises(HttpError) as caught:
        sync(store_path, "nuvemshop", source(nuvem, clock, **options))
    assert nuvem.count() == 1 and clock.slept == []
    message = str(caught.value)
    assert message.startswith(f"Nuvemshop: GET /v1/{options.get('store_id', '123456')}"
                              f"/customers answered {status}") and words in message
    assert nuvem.token not in message and "tok_wrong_value_12345" not in message


def test_the_user_agent_the_api_requires_cannot_be_left_blank(nuvem: FakeNuvemshop) -> None:
    with pytest.raises(ValidationError, match="user_agent"):
        config(nuvem, user_agent="   ")
    with pytest.raises(ValidationError, match="HTTPS"):
        config(nuvem, base_url="http://api.nuvemshop.com.br/v1")


def test_an_empty_store_is_not_an_error(clock: VirtualClock, store_path: Path) -> None:
    with FakeNuvemshop(StoreData({}, {}, now=__import__("datetime").datetime.now()),
                       clock=clock) as fake:
        summary = sync(store_path, "nuvemshop", source(fake, clock))
        assert fake.count(status=404) == 4 and summary.totals()["read"] == 0


def test_malformed_json_and_records_missing_fields_go_to_quarantine(
        nuvem: FakeNuvemshop, clock: VirtualClock, store_path: Path) -> None:
    ids = sorted(o.id for o in nuvem.data.orders.values()
                 if nuvem.payment_status(o) in DEFAULT_PAYMENT)
    nuvem.malformed = {str(ids[3]), str(ids[1_000])}
    nuvem.missing = {str(ids[10]): ["created_at"], str(ids[20]): ["id"]}
    summary = sync(store_path, "nuvemshop", source(nuvem, clock))
    landed = {r[0] for r in stored_orders(store_path)}
    lost = {str(ids[i]) for i in (3, 1_000, 10, 20)}
    assert landed == {str(o) for o in nuvem.data.orders} - lost
    reasons = dict(rows(store_path, "SELECT record_key, reason FROM quarantine"))
    assert "not valid JSON" in reasons[str(ids[3])] and "created_at" in reasons[str(ids[10])]
    assert summary.totals()["quarantined"] == 4
    assert nuvem.count() == floor(nuvem)


