"""Nuvemshop against its fake: syncs, the leaky bucket, faults, crash and resume."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from clientela_nuvemshop import NuvemshopConfig, build_source
from pydantic import ValidationError

from clientela.connectors import HttpError

from .fakes.base import VirtualClock
from .fakes.data import StoreData
from .fakes.nuvemshop import DEFAULT_PAYMENT, FakeNuvemshop
from .helpers import expected_orders, read, rows, snapshot, stored_orders, sync


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


def test_full_sync_equals_the_fake_store(nuvem: FakeNuvemshop, clock: VirtualClock,
                                         store_path: Path) -> None:
    summary = sync(store_path, "nuvemshop", source(nuvem, clock))
    # the order resource only says "refunded": a partial refund counts in full
    refunded = ("refunded", "partially_refunded")
    assert stored_orders(store_path) == [
        (*row[:3], row[2] if row[4] in refunded else row[3],
         "refunded" if row[4] in refunded else row[4], row[5])
        for row in expected_orders(nuvem.data)]
    assert nuvem.count() == floor(nuvem)
    consent = {True: "subscribed", False: "unsubscribed", None: "unknown"}
    assert rows(store_path, "SELECT customer_id, email, consent_email, last_name FROM customers "
                            "ORDER BY customer_id") == sorted(
        (str(p.id), p.email, consent[p.subscribed], p.last_name)
        for p in nuvem.data.customers.values())
    assert summary.totals()["quarantined"] == 0
    first = nuvem.log[0]
    assert first.query["per_page"] == "200" and "updated_at_min" not in first.query


def test_edits_after_a_sync_are_picked_up_incrementally(nuvem: FakeNuvemshop,
                                                        clock: VirtualClock,
                                                        store_path: Path) -> None:
    sync(store_path, "nuvemshop", source(nuvem, clock))
    old = next(o for o in nuvem.data.orders.values() if o.status == "fulfilled"
               and not o.refunds and o.created < nuvem.data.now - timedelta(days=365))
    nuvem.refund(old.id)
    person = next(p for p in nuvem.data.customers.values() if p.subscribed)
    nuvem.set_subscribed(person.id, False)
    nuvem.reset_log()

    summary = sync(store_path, "nuvemshop", source(nuvem, clock))

    assert read(summary, "orders") == 1
    assert read(summary, "order_lines") == len(old.lines)
    assert read(summary, "customers") == 1
    assert rows(store_path, f"SELECT status, refunded_amount = total FROM orders "
                            f"WHERE order_id = '{old.id}'") == [("refunded", True)]
    assert rows(store_path, f"SELECT consent_email FROM customers "
                            f"WHERE customer_id = '{person.id}'") == [("unsubscribed",)]
    assert all("updated_at_min" in entry.query for entry in nuvem.log)
    assert nuvem.count() == 4  # one page per listing: orders x3 passes, customers


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


def test_a_429_storm_and_5xx_bursts_are_survived(nuvem: FakeNuvemshop, clock: VirtualClock,
                                                 store_path: Path) -> None:
    nuvem.faults.throttles = 9
    sync(store_path, "nuvemshop", source(nuvem, clock))
    assert nuvem.count() == floor(nuvem) + 9
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


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.store import Store
    from clientela.sync import run_sync
    from clientela_nuvemshop import NuvemshopConfig, build_source

    config = NuvemshopConfig.model_validate(json.loads(sys.argv[1]))
    seen = 0

    def die(stream, batch):
        global seen
        if batch.stream.name == "orders" and batch.state is not None:
            seen += 1
            if seen == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    with Store(sys.argv[2]) as store:
        run_sync(store, "nuvemshop", build_source(config, sleep=lambda s: None),
                 context={"timezone": "UTC", "reporting_currency": "BRL"}, on_batch=die)
""")


def test_sigkill_mid_sync_then_resume_equals_one_clean_sync(
        nuvem: FakeNuvemshop, clock: VirtualClock, tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    settings = config(nuvem, per_page=100, batch_rows=500).model_dump(mode="json")
    settings["access_token"] = nuvem.token
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), json.dumps(settings), str(killed)],
                          env=env, check=False, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    committed = read_all(killed)
    assert 0 < committed < len(nuvem.data.orders)
    nuvem.reset_log()
    sync(killed, "nuvemshop", source(nuvem, clock, per_page=100, batch_rows=500))
    first_orders = next(e for e in nuvem.log if e.path.endswith("/orders"))
    assert first_orders.query.get("page", "1") != "1"  # resumed from the saved Link
    sync(clean, "nuvemshop", source(nuvem, clock, per_page=100, batch_rows=500))
    assert snapshot(killed) == snapshot(clean)
