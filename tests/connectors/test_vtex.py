"""VTEX against its fake: list + detail, scroll, incremental edits, faults, crash and resume."""

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
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_vtex import VtexConfig, build_source
from pydantic import ValidationError

from clientela.http import HttpError
from clientela.testing.fake_server import VirtualClock
from clientela.testing.source_contract import SourceContract

from .conftest import Sleeps
from .fakes.data import StoreData, generate
from .fakes.vtex import FakeVtex, order_key
from .helpers import expected_orders, read, rows, snapshot, stored_orders, sync

CONSENT = {True: "subscribed", False: "unsubscribed", None: "unknown"}


@pytest.fixture
def vtex_data() -> StoreData:
    return generate(customers=300, orders=1_200, seed=11)


@pytest.fixture
def vtex(vtex_data: StoreData) -> Iterator[FakeVtex]:
    with FakeVtex(vtex_data) as fake:
        yield fake


def config(fake: FakeVtex, **options: Any) -> VtexConfig:
    settings = {"base_url": fake.origin, "app_key": fake.app_key, "app_token": fake.app_token,
                "requests_per_second": 0, **options}
    return VtexConfig(**settings)


def source(fake: FakeVtex, sleeps: Sleeps | None = None, **options: Any) -> Any:
    return build_source(config(fake, **options), sleep=sleeps or Sleeps())


def expected(data: StoreData, skip: set[int] = frozenset()) -> list[tuple[Any, ...]]:  # type: ignore[assignment]
    return [(order_key(int(row[0])), *row[1:]) for row in expected_orders(data, skip)]


def floor(fake: FakeVtex, per_page: int = 100, scroll: int = 1_000) -> int:
    """A full sync's calls: list pages, one detail per order, scroll pages and the empty end."""
    orders, people = len(fake.data.orders), len(fake.data.customers)
    return math.ceil(orders / per_page) + orders + math.ceil(people / scroll) + 1


def details(fake: FakeVtex) -> int:
    return sum(1 for e in fake.log if e.path.startswith("/api/oms/pvt/orders/"))


class TestVtexContract(SourceContract):
    """The shared source contract on the VTEX fake, plus what only VTEX shows: list + detail
    calls, the scroll's parameters, the saved page."""

    name, distribution = "vtex", "clientela-vtex"
    kill_settings: ClassVar[dict[str, int]] = {"per_page": 50, "scroll_size": 40,
                                                "batch_rows": 80}

    @pytest.fixture
    def fake(self, vtex_data: StoreData) -> Iterator[FakeVtex]:
        with FakeVtex(vtex_data) as server:
            yield server

    def settings(self, fake: FakeVtex, **options: Any) -> dict[str, Any]:
        settings = config(fake, **options).model_dump(mode="json")
        settings.update(app_key=fake.app_key, app_token=fake.app_token)
        return settings

    def build(self, fake: FakeVtex, sleep: Any, **options: Any) -> Any:
        return source(fake, sleep, **options)

    def expected(self, fake: FakeVtex) -> Any:
        return (expected(fake.data), sorted((str(p.id), p.email, CONSENT[p.subscribed],
                                             p.last_name) for p in fake.data.customers.values()))

    def observed(self, store_path: Path) -> Any:
        return (stored_orders(store_path),
                rows(store_path, "SELECT customer_id, email, consent_email, last_name "
                                 "FROM customers ORDER BY customer_id"))

    def full_sync_requests(self, fake: FakeVtex) -> int:
        return floor(fake)

    def extra_full(self, fake: FakeVtex, store_path: Path, summary: Any) -> None:
        listing = [e for e in fake.log if e.path == "/api/oms/pvt/orders"]
        assert all(e.query["per_page"] == "100" and e.query["orderBy"] == "creationDate,asc"
                   and e.query["f_creationDate"].startswith("creationDate:[") for e in listing)
        scroll = [e for e in fake.log if e.path.endswith("/scroll")]
        assert scroll[0].query["_size"] == "1000" and "updatedIn" in scroll[0].query["_fields"]
        assert all(set(e.query) == {"_token"} for e in scroll[1:])

    def edit(self, fake: FakeVtex) -> dict[str, int]:
        old = next(o for o in fake.data.orders.values() if o.status == "fulfilled"
                   and not o.refunds
                   and fake.data.now - timedelta(days=700) < o.created
                   < fake.data.now - timedelta(days=365))
        fake.refund(old.id, (old.total / 2).quantize(Decimal("0.01")))
        person = next(p for p in fake.data.customers.values() if p.subscribed)
        fake.set_subscribed(person.id, False)
        self.edited = (old, person)
        return {"customers": 1}  # the order's rows: see extra_incremental

    def extra_incremental(self, fake: FakeVtex, store_path: Path, summary: Any) -> None:
        old, person = self.edited
        # lines count under their own stream or their parent's, as the engine reports them
        assert read(summary, "orders") + read(summary, "order_lines") == 1 + len(old.lines)
        assert details(fake) == 1  # the list's lastChange spares every unchanged order's detail
        assert rows(store_path, f"SELECT status, refunded_amount FROM orders "
                                f"WHERE order_id = '{order_key(old.id)}'") == [
            ("partially_refunded", old.refunded)]
        assert rows(store_path, f"SELECT consent_email FROM customers "
                                f"WHERE customer_id = '{person.id}'") == [("unsubscribed",)]
        first_scroll = next(e for e in fake.log if e.path.endswith("/scroll"))
        assert first_scroll.query["_where"].startswith("updatedIn>")

    def test_a_429_storm_is_waited_out_as_asked(self, fake: FakeVtex, tmp_path: Path) -> None:
        super().test_a_429_storm_is_waited_out_as_asked(fake, tmp_path)
        assert fake.count() == floor(fake) + 9

    def extra_resume(self, fake: FakeVtex, store_path: Path, committed: int) -> None:
        first = next(e for e in fake.log if e.path == "/api/oms/pvt/orders")
        assert first.query["page"] != "1"  # resumed from the saved page, not from the start
        assert details(fake) == len(fake.data.orders) - committed


def test_cents_become_exact_decimals(vtex: FakeVtex, store_path: Path) -> None:
    sync(store_path, "vtex", source(vtex))
    order = next(o for o in vtex.data.orders.values() if o.discount and o.shipping)
    assert rows(store_path, f"SELECT subtotal, discount, shipping, total, coupon FROM orders "
                            f"WHERE order_id = '{order_key(order.id)}'") == [
        (order.subtotal, order.discount, order.shipping, order.total, "PROMO10")]
    line = order.lines[0]
    assert rows(store_path, f"SELECT unit_price, quantity, total, sku FROM order_lines "
                            f"WHERE line_id = 'U{line.id}'") == [
        (line.price, line.quantity, line.price * line.quantity, line.sku)]


def test_the_30_page_ceiling_restarts_the_range_at_the_last_creation_date(
        vtex: FakeVtex, store_path: Path) -> None:
    sync(store_path, "vtex", source(vtex, per_page=10))
    assert vtex.count(status=400) == 0
    assert stored_orders(store_path) == expected(vtex.data)
    pages = [int(e.query["page"]) for e in vtex.log if e.path == "/api/oms/pvt/orders"]
    assert max(pages) == 30 and pages.count(1) >= math.ceil(1_200 / 300)


def test_a_sync_with_nothing_new_fetches_no_detail(vtex: FakeVtex, store_path: Path) -> None:
    sync(store_path, "vtex", source(vtex))
    vtex.reset_log()
    summary = sync(store_path, "vtex", source(vtex))
    assert details(vtex) == 0 and summary.totals()["read"] == 0


def test_5xx_bursts_and_resets_are_retried(vtex: FakeVtex, store_path: Path) -> None:
    sleeps = Sleeps()
    vtex.faults.server_errors = 4
    vtex.faults.server_error_status = 502
    sync(store_path, "vtex", source(vtex, sleeps))
    vtex.faults.resets = 2
    other = store_path.with_name("other.duckdb")
    sync(other, "vtex", source(vtex, sleeps))
    assert vtex.count(status=502) == 4 and vtex.count(resets=True) == 2
    assert len(sleeps.waits) == 6
    assert stored_orders(other) == stored_orders(store_path) == expected(vtex.data)


def test_other_4xx_are_never_retried_and_keep_secrets_out(vtex: FakeVtex,
                                                          store_path: Path) -> None:
    sleeps = Sleeps()
    with pytest.raises(HttpError) as caught:
        sync(store_path, "vtex", source(vtex, sleeps, app_token="wrong-token-0123456789"))
    assert vtex.count() == 1 and sleeps.waits == []
    message = str(caught.value)
    assert message.startswith("VTEX: GET /api/dataentities/CL/scroll answered 401")
    assert "Unauthorized" in message and "wrong-token-0123456789" not in message


def test_plain_http_is_refused_beyond_loopback() -> None:
    with pytest.raises(ValidationError, match="HTTPS"):
        VtexConfig(base_url="http://store.vtexcommercestable.com.br", app_key="k", app_token="t")
    with pytest.raises(ValidationError, match="per_page"):
        VtexConfig(base_url="https://store.vtexcommercestable.com.br", app_key="k",
                   app_token="t", per_page=101)


def test_malformed_json_and_bad_records_go_to_quarantine(vtex: FakeVtex,
                                                         store_path: Path) -> None:
    people = sorted(vtex.data.customers)
    ids = sorted(vtex.data.orders)
    vtex.malformed_customers = {str(people[5]), str(people[50])}
    vtex.missing = {order_key(ids[10]): ["creationDate"]}
    vtex.broken = {order_key(ids[20]): {"value": 1234.5},
                   order_key(ids[30]): {"status": "teleported"}}
    vtex.gone = {order_key(ids[40])}
    summary = sync(store_path, "vtex", source(vtex))
    lost = {ids[i] for i in (10, 20, 30, 40)}
    assert {r[0] for r in stored_orders(store_path)} == {order_key(o) for o in ids
                                                         if o not in lost}
    reasons = dict(rows(store_path, "SELECT record_key, reason FROM quarantine"))
    assert "creationDate" in reasons[order_key(ids[10])]
    assert "integer cents" in reasons[order_key(ids[20])]
    assert "status_map" in reasons[order_key(ids[30])]
    assert "404" in reasons[order_key(ids[40])]
    assert sum("not valid JSON" in r for r in reasons.values()) == 2
    assert summary.totals()["quarantined"] == 6
    assert vtex.count() == floor(vtex)


def test_requests_are_paced_below_the_published_rate(vtex: FakeVtex, store_path: Path) -> None:
    clock = VirtualClock()
    build = build_source(config(vtex, requests_per_second=50), sleep=clock.sleep, clock=clock)
    sync(store_path, "vtex", build)
    made = vtex.count()
    assert vtex.count(status=429) == 0
    assert sum(clock.slept) == pytest.approx((made - 1) / 50, abs=0.05)


def test_an_expired_scroll_token_is_not_replayed(vtex: FakeVtex, store_path: Path) -> None:
    """A resumed customers window starts a new scroll instead of trusting an old token."""
    state = {"window": {"since": None, "until": None, "resume": {"scroll": "restart"}}}
    pages = list(build_source(config(vtex, scroll_size=100)).declarations["customers"]
                 .pages(None, state["window"]["resume"]))
    assert sum(len(p.items) for p in pages) == len(vtex.data.customers)
    assert "_token" not in vtex.log[0].query


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.store import Store
    from clientela.sync import run_sync
    from clientela_vtex import VtexConfig, build_source

    config = VtexConfig.model_validate(json.loads(sys.argv[1]))
    target, seen = sys.argv[3], 0

    def die(stream, batch):
        global seen
        if batch.stream.name == target and batch.state is not None:
            seen += 1
            if seen == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    with Store(sys.argv[2]) as store:
        run_sync(store, "vtex", build_source(config, sleep=lambda s: None),
                 context={"timezone": "UTC", "reporting_currency": "BRL"}, on_batch=die)
""")


@pytest.mark.parametrize("stream", ["customers"])  # orders: in the contract
def test_sigkill_mid_sync_then_resume_equals_one_clean_sync(
        vtex: FakeVtex, tmp_path: Path, stream: str) -> None:
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    options = {"per_page": 50, "scroll_size": 40, "batch_rows": 80}
    settings = config(vtex, **options).model_dump(mode="json")
    settings.update(app_key=vtex.app_key, app_token=vtex.app_token)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), json.dumps(settings), str(killed), stream],
                          env=env, check=False, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    table = "orders" if stream == "orders" else "customers"
    committed = int(rows(killed, f"SELECT count(*) FROM {table}")[0][0])
    total = len(vtex.data.orders if stream == "orders" else vtex.data.customers)
    assert 0 < committed < total
    vtex.reset_log()
    sync(killed, "vtex", source(vtex, **options))
    if stream == "orders":
        first = next(e for e in vtex.log if e.path == "/api/oms/pvt/orders")
        assert first.query["page"] != "1"  # resumed from the saved page, not from the start
        assert details(vtex) == len(vtex.data.orders) - committed
    sync(clean, "vtex", source(vtex, **options))
    assert snapshot(killed) == snapshot(clean)
    assert stored_orders(killed) == expected(vtex.data)


def test_clientela_sync_vtex_from_the_command_line(
        vtex: FakeVtex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins
    from clientela.cli.app import main

    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-vtex")
    monkeypatch.setenv("VTEX_APP_TOKEN", vtex.app_token)
    plugins.reset(forget_local=True)
    (tmp_path / "clientela.toml").write_text(textwrap.dedent(f"""
        [workspace]
        timezone = "UTC"
        currency = "BRL"

        [sources.vtex]
        base_url = "{vtex.origin}"
        app_key = "{vtex.app_key}"
        app_token = "${{VTEX_APP_TOKEN}}"
        requests_per_second = 0
    """))
    assert main(["sync", "vtex"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "customers" in out and vtex.app_token not in out
    assert stored_orders(tmp_path / "clientela.duckdb") == expected(vtex.data)
