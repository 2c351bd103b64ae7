"""The contract every destination plugin honours, as a pytest suite a connector adopts in a
few lines (as the Singer SDK's `get_tap_test_class` does; `SourceContract` is its twin).

    from clientela.testing.destination_contract import DestinationContract

    class TestMyCrmContract(DestinationContract):
        name, distribution = "mycrm", "clientela-mycrm"

        @pytest.fixture
        def fake(self):                       # the platform, faked on 127.0.0.1
            with FakeMyCrm() as server:       # a clientela.testing.fake_server.FakeServer
                yield server

        def settings(self, fake, **options):  # [destinations.mycrm] pointing at the fake
            return {"api_key": fake.api_key, "base_url": fake.url, **options}

        def build(self, fake, sleep, **options):
            return MyCrmDestination(MyCrmConfig(**self.settings(fake, **options)), sleep=sleep)

        def audience(self, fake):             # e-mail -> the segment it carries there
            return {c.email: c.properties.get("segment") for c in fake.contacts.values()}

        def subscribed(self, fake):           # who the platform would send marketing to
            return {c.email for c in fake.contacts.values() if c.subscribed}

The suite builds a small store (`contract_store`: customers with orders, some without
e-mail consent), pushes it through the real push engine over real HTTP, and checks:

- a full push lands every consented customer with its segment, exactly as the store says;
- edits after a push (new orders that move segments, changed fields, a new customer) are
  sent incrementally, and the destination again equals the store;
- a push with nothing changed makes no write call at all;
- a 429 storm is waited out as the platform asks and the push completes;
- a SIGKILL mid-push (a real process, killed by the fake as its `kill_after_writes`-th
  write arrives) then one more push leaves the destination as one clean push does;
- consent: nobody without e-mail consent is ever subscribed there, and an opt-out made
  at the destination is read back into the store (for destinations that read consent).

The store is a DuckDB file; a connector that sets `store_databases = ("duckdb",
"postgres")` runs the whole suite a second time on a PostgreSQL store (a new database of
the session's throwaway server, `clientela_postgres`; the killed push opens it by URL).

Each platform's floor of calls, its own headers and error bodies stay in its own tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from clientela.destinations.api import Destination, ReadsConsent
from clientela.destinations.contacts import Segmentation
from clientela.destinations.push import PushReport, push
from clientela.model.entities import Customer, LoyaltyEvent, Order
from clientela.store import Store
from clientela.testing.fake_server import Request
from clientela.testing.source_contract import Sleeps

AS_OF = datetime(2024, 7, 1)
"""The push's 'today' in the contract store."""
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# -- the store every destination is pushed from ------------------------------------------------

def email(i: int) -> str:
    return f"cliente{i:05d}@example.com"


def customer_id(i: int) -> str:
    return f"c{i:05d}"


def customers(n: int, consent: Mapping[int, str] | None = None) -> list[Customer]:
    """`n` customers, all with e-mail consent `subscribed` unless `consent` says otherwise."""
    consent = consent or {}
    return [Customer(source="test", customer_id=customer_id(i), email=email(i), first_name=f"N{i}",
                     phone=f"+55 11 9{i:04d}-0000", consent_email=consent.get(i, "subscribed"))
            for i in range(n)]


def orders_for(i: int) -> list[Order]:
    """One to five paid orders over the two years before `AS_OF`, spread so that RFM puts
    the customers in many segments."""
    made = []
    for k in range(1 + (i * 7) % 5):
        days = (i * 37 + k * 53) % 700 + 1
        total = Decimal(20 + (i * 13 + k * 29) % 480) + Decimal("0.90")
        made.append(Order(source="test", order_id=f"o{i:05d}-{k}", customer_id=customer_id(i),
                          status="paid", placed_at=AS_OF - timedelta(days=days, hours=i % 24),
                          subtotal=total, total=total, channel="web"))
    return made


StoreTarget = Path | str
"""A DuckDB store's path, or a PostgreSQL store's URL: what `Store()` opens."""


def contract_store(path: StoreTarget, n: int, consent: Mapping[int, str] | None = None) -> None:
    """The store the suite pushes: `n` customers with their orders."""
    with Store(path) as store:
        store.upsert(customers(n, consent))
        store.upsert([order for i in range(n) for order in orders_for(i)])


def add_points(path: StoreTarget, who: list[int], points: int = 120, tag: str = "a") -> None:
    """Loyalty points for `who`: a field change that moves no RFM segment."""
    with Store(path) as store:
        store.upsert([LoyaltyEvent(source="test", event_id=f"l{tag}{i}", customer_id=customer_id(i),
                                   kind="earn", points=points, occurred_at=AS_OF - timedelta(days=2))
                      for i in who])


def order_today(path: StoreTarget, who: list[int], tag: str = "today") -> None:
    """A fresh order for each of `who`: recency jumps, so most of them change segment."""
    with Store(path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": f"{tag}{i}", "placed_at": AS_OF - timedelta(hours=2)}) for i in who])


def pushed_segments(path: StoreTarget, segmentation: str = "rfm") -> dict[str, str | None]:
    """Lower-cased e-mail -> segment, as the store last pushed it (`push_state`)."""
    with Store(path) as store:
        rows = store.con.execute("SELECT email, segment FROM push_state WHERE segmentation = ?",
                                 [segmentation]).fetchall()
    return {str(mail).lower(): segment for mail, segment in rows}


def written(report: PushReport) -> int:
    """Contacts the push wrote (created, updated, moved, removed...), not those it skipped."""
    return sum(count for outcome, count in report.outcomes.items() if outcome != "skipped")


KILLER = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from clientela.destinations.contacts import Segmentation
    from clientela.destinations.push import push
    from clientela.plugins import registry
    from clientela.store import Store

    name, settings, store_path, as_of = sys.argv[1:5]
    spec = registry().get("destination", name)
    destination = spec.open(spec.config.model_validate(json.loads(settings)))
    with Store(store_path) as store:
        push(store, name, destination, Segmentation.rfm(), as_of=datetime.fromisoformat(as_of))
""")


class DestinationContract:
    """Subclass as `Test<Platform>Contract`; see the module docstring for the hooks."""

    name: ClassVar[str]
    """The destination's registered name."""
    distribution: ClassVar[str]
    """Its distribution, loaded by the killed subprocess (`CLIENTELA_LOAD_PLUGINS`)."""
    store_size: ClassVar[int] = 60
    """Customers in the contract store."""
    no_consent: ClassVar[Mapping[int, str]] = {3: "unsubscribed", 7: "unknown", 11: "pending",
                                               23: "unsubscribed"}
    """Customers of the contract store without e-mail consent, and their status."""
    storm: ClassVar[int] = 6
    """How many 429s the storm test sends in a row."""
    retry_after: ClassVar[str] = "3"
    exact_waits: ClassVar[bool] = False
    """The storm's waits are all the push waits (False: it may also wait for other reasons,
    such as polling a job or pacing; then only the storm's own waits are counted)."""
    kill_after_writes: ClassVar[int] = 3
    """The killed push dies as this write request reaches the fake (which still applies it:
    the destination changed and the pusher never heard back)."""
    kill_settings: ClassVar[Mapping[str, Any]] = {}
    """Options for the killed run (small batches, one connection, so it dies mid-push)."""
    store_databases: ClassVar[tuple[str, ...]] = ("duckdb",)
    """The store's databases the suite runs on: `duckdb`, and `postgres` for a PostgreSQL
    store (skipped without PostgreSQL, failed instead with CLIENTELA_REQUIRE_POSTGRES=1)."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Every test once per database of `store_databases` (see `_on_store_database`)."""
        if tuple(self.store_databases) != ("duckdb",):
            metafunc.parametrize("store_database", [
                pytest.param(name, marks=pytest.mark.postgres) if name == "postgres" else name
                for name in self.store_databases])

    @pytest.fixture
    def store_database(self) -> str:
        return "duckdb"

    @pytest.fixture(autouse=True)
    def _on_store_database(self, store_database: str, request: pytest.FixtureRequest) -> None:
        self._postgres: Any = None
        if store_database == "postgres":
            self._postgres = request.getfixturevalue("clientela_postgres")
        elif store_database != "duckdb":
            raise ValueError(f"store_databases: {store_database!r}: expected duckdb or postgres")

    # -- hooks a connector implements ------------------------------------------------------

    def settings(self, fake: Any, **options: Any) -> dict[str, Any]:
        """The destination's settings, JSON-able, pointing at `fake`."""
        raise NotImplementedError

    def build(self, fake: Any, sleep: Any, **options: Any) -> Destination:
        """The opened destination over `fake`, sleeping with `sleep` (tests never wait)."""
        raise NotImplementedError

    def audience(self, fake: Any) -> dict[str, str | None]:
        """Every contact the fake holds: lower-cased e-mail -> the segment it carries there
        (the segment's name, as the store has it), None for none."""
        raise NotImplementedError

    def subscribed(self, fake: Any) -> set[str]:
        """Lower-cased e-mails the platform would send marketing e-mail to."""
        raise NotImplementedError

    def opt_out(self, fake: Any, address: str) -> None:
        """Make `address` opt out at the destination, as the person would (an unsubscribe
        link, a suppression). Only for destinations that read consent back."""
        raise NotImplementedError

    def write_count(self, fake: Any) -> int:
        """Write calls the fake answered since the last `reset`."""
        return int(fake.write_count())

    def reset(self, fake: Any) -> None:
        fake.reset_calls()

    def throttle(self, fake: Any) -> None:
        """Arm the storm: the next `storm` requests answer 429 with `retry_after`."""
        fake.faults.throttles = self.storm
        fake.faults.retry_after = self.retry_after

    def throttled(self, fake: Any) -> int:
        """How many 429s the fake sent."""
        return int(fake.count(status=429))

    def storm_wait(self, fake: Any) -> float:
        """The wait the platform asks for after each 429 (default: its `Retry-After`)."""
        return float(self.retry_after)

    def is_write(self, request: Request) -> bool:
        """Whether a request changes the destination (what the killer counts); a POST that
        only searches or reads does not."""
        return request.method in WRITES and not re.search(r"search|/read$", request.path)

    def extra_unchanged(self, fake: Any) -> None:
        """Platform-specific checks after the unchanged push (the fake's log holds only that
        push's requests): which reads it may still make, say."""

    def extra_after_kill(self, fake: Any) -> None:
        """Platform-specific checks after the killed push and its re-run (the fake's log holds
        both): that a write which must happen once happened once, say."""

    def segmentation(self) -> Segmentation:
        return Segmentation.rfm()

    # -- running ---------------------------------------------------------------------------

    def store(self, tmp_path: Path, name: str = "clientela.duckdb") -> StoreTarget:
        """The contract store: a DuckDB file in `tmp_path`, or a new PostgreSQL database."""
        target: StoreTarget = tmp_path / name
        if self._postgres is not None:
            server = self._postgres
            target = (f"postgresql://{server.user}@{server.host}:{server.port}/"
                      f"{server.new_database()}")
        contract_store(target, self.store_size, self.no_consent)
        return target

    def push(self, store_path: StoreTarget, fake: Any, sleep: Any = None, **options: Any) -> PushReport:
        opened = self.build(fake, sleep or Sleeps(), **options)
        try:
            with Store(store_path) as store:
                return push(store, self.name, opened, self.segmentation(), as_of=AS_OF)
        finally:
            opened.close()

    def consented(self, store_path: StoreTarget) -> set[str]:
        """Lower-cased e-mails the store may market to now."""
        from clientela.consent import can_contact

        with Store(store_path) as store:
            rows = store.con.execute("SELECT customer_id, lower(email) FROM customers").fetchall()
            return {mail for cid, mail in rows if can_contact(store, cid, "email", "marketing")}

    def assert_equals_the_store(self, fake: Any, store_path: StoreTarget) -> None:
        """Every consented customer is there with the segment the store pushed; nobody
        without consent is subscribed."""
        consented = self.consented(store_path)
        expected = {mail: segment for mail, segment in pushed_segments(store_path).items()
                    if mail in consented}
        there = self.audience(fake)
        assert {mail: there.get(mail, "<absent>") for mail in expected} == expected
        assert self.subscribed(fake) <= consented

    # -- the contract ----------------------------------------------------------------------

    def test_full_push_equals_the_store(self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        report = self.push(store_path, fake)
        assert report.failed == 0
        consented = self.consented(store_path)
        assert len(consented) == self.store_size - len(self.no_consent)
        assert set(pushed_segments(store_path)) >= consented
        self.assert_equals_the_store(fake, store_path)

    def test_edits_after_a_push_are_sent_incrementally(self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        first = self.push(store_path, fake)
        richer = [1, 2, 20]
        add_points(store_path, richer, points=250)  # a field changes, no segment moves
        self.reset(fake)
        report = self.push(store_path, fake)
        assert report.failed == 0 and written(report) == len(richer)
        assert report.unchanged == written(first) - len(richer)
        self.assert_equals_the_store(fake, store_path)

        order_today(store_path, [0, 5, 10, 15])  # segments move (and quintile edges with them)
        with Store(store_path) as store:  # a new customer, with consent and an order
            new = self.store_size
            store.upsert(customers(new + 1)[new:])
            store.upsert(orders_for(new))
        self.reset(fake)
        report = self.push(store_path, fake)
        assert report.failed == 0 and 0 < written(report) < written(first)
        self.assert_equals_the_store(fake, store_path)
        assert email(new) in self.audience(fake)

    def test_an_unchanged_push_makes_no_write_call(self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        first = self.push(store_path, fake)
        self.reset(fake)
        report = self.push(store_path, fake)
        assert self.write_count(fake) == 0
        assert written(report) == 0 and report.unchanged == written(first)
        self.extra_unchanged(fake)

    def test_a_429_storm_is_waited_out_as_asked(self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        sleeps = Sleeps()
        self.throttle(fake)
        report = self.push(store_path, fake, sleeps)
        assert self.throttled(fake) == self.storm
        if self.exact_waits:
            assert sleeps.waits == [self.storm_wait(fake)] * self.storm
        else:
            assert sleeps.waits.count(self.storm_wait(fake)) >= self.storm
        assert report.failed == 0
        self.assert_equals_the_store(fake, store_path)

    def test_sigkill_mid_push_then_one_more_push_equals_one_clean_push(
            self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        script = tmp_path / "killer.py"
        script.write_text(KILLER)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
               "CLIENTELA_LOAD_PLUGINS": self.distribution}
        settings = json.dumps(self.settings(fake, **self.kill_settings))
        child = subprocess.Popen([sys.executable, str(script), self.name, settings,
                                  str(store_path), AS_OF.isoformat()], env=env,
                                 stderr=subprocess.PIPE)
        writes, killed = [0], threading.Event()

        def kill_at_the_nth_write(request: Request, number: int) -> None:
            if self.is_write(request) and not killed.is_set():
                writes[0] += 1
                if writes[0] == self.kill_after_writes:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.set()
                    child.wait(30)  # the request is answered only once the pusher is gone

        fake.on_request = kill_at_the_nth_write
        try:
            _, err = child.communicate(timeout=300)
        finally:
            fake.on_request = None
        assert child.returncode == -signal.SIGKILL, err.decode()[-2_000:]
        report = self.push(store_path, fake)
        assert report.failed == 0
        self.assert_equals_the_store(fake, store_path)
        self.extra_after_kill(fake)
        self.reset(fake)
        assert written(self.push(store_path, fake)) == 0 and self.write_count(fake) == 0

    def test_nobody_without_consent_is_subscribed(self, fake: Any, tmp_path: Path) -> None:
        store_path = self.store(tmp_path)
        self.push(store_path, fake)
        quiet = {email(i) for i in self.no_consent}
        assert quiet.isdisjoint(self.subscribed(fake))
        with Store(store_path) as store:  # a subscribed customer opts out in the store
            store.upsert([customers(1)[0].model_copy(update={"consent_email": "unsubscribed"})])
        self.push(store_path, fake)
        assert (quiet | {email(0)}).isdisjoint(self.subscribed(fake))

    def test_an_opt_out_at_the_destination_is_read_back(self, fake: Any, tmp_path: Path) -> None:
        from clientela.consent import can_contact

        store_path = self.store(tmp_path)
        opened = self.build(fake, Sleeps())
        reads = isinstance(opened, ReadsConsent)
        opened.close()
        if not reads:
            pytest.skip(f"{self.name} reads no consent back (it does not implement ReadsConsent)")
        self.push(store_path, fake)
        # a destination may date an opt-out to the whole second (SendGrid's `created`); one
        # made in the very second the store stamped its opt-ins would tie with them
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        self.opt_out(fake, email(4))
        report = self.push(store_path, fake)
        assert report.consent.get("learned", 0) >= 1
        with Store(store_path) as store:
            assert not can_contact(store, customer_id(4), "email", "marketing")
        assert email(4) not in self.subscribed(fake)
        self.assert_equals_the_store(fake, store_path)


__all__ = ["AS_OF", "DestinationContract", "StoreTarget", "add_points", "contract_store", "customer_id",
           "customers", "email", "order_today", "orders_for", "pushed_segments", "written"]
