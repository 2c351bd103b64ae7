"""The contract every source plugin honours, as a pytest suite a connector adopts in a few
lines (as the Singer SDK's `get_tap_test_class` does).

    from clientela.testing.source_contract import SourceContract

    class TestMyShopContract(SourceContract):
        name, distribution = "myshop", "clientela-myshop"

        @pytest.fixture
        def fake(self):                       # the platform, faked on 127.0.0.1
            with FakeMyShop(generate()) as server:  # a clientela.testing.fake_server.FakeServer
                yield server

        def settings(self, fake, **options):  # [sources.myshop] pointing at the fake
            return {"base_url": fake.origin, "token": fake.token, **options}

        def build(self, fake, sleep, **options):
            return build_source(MyShopConfig(**self.settings(fake, **options)), sleep=sleep)

        def expected(self, fake): ...         # what observed() must return after a full sync
        def observed(self, store_path): ...
        def edit(self, fake): ...             # change records; returns the reads to expect

The suite then checks, against the fake over real HTTP:

- a full sync lands exactly the fake's records (`expected`), quarantines nothing and,
  when `full_sync_requests` says how many, makes exactly that many requests;
- edits after a sync are picked up incrementally: the next sync reads exactly what `edit`
  says changed, and the store again equals the fake;
- a sync with nothing new writes nothing (no insert, no update);
- a 429 storm is waited out as the platform asks (`Retry-After`) and the sync completes;
- a SIGKILL mid-sync (a real process, killed after its second committed batch of
  `kill_stream`) then a resume lands the same store as one clean sync, and the resume
  does not start over.

Each check has an `extra_*` hook for what only one platform shows (its query parameters,
its page numbers), so the contract stays shared and the specifics stay next to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from clientela.sources.api import Source
from clientela.store import Store
from clientela.sync import SyncSummary, run_sync

CONTEXT = {"timezone": "UTC", "reporting_currency": "BRL"}


class Sleeps:
    """Stands in for time.sleep: records the waits asked for and waits not at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.plugins import registry
    from clientela.store import Store
    from clientela.sync import run_sync

    name, settings, store_path, stream, after = sys.argv[1:6]
    spec = registry().get("source", name)
    source = spec.open(spec.config.model_validate(json.loads(settings)))
    seen = 0

    def die(_, batch):
        global seen
        if batch.stream.name == stream and batch.state is not None and batch.rows:
            seen += 1
            if seen == int(after):
                os.kill(os.getpid(), signal.SIGKILL)

    with Store(store_path) as store:
        run_sync(store, name, source, context={"timezone": "UTC", "reporting_currency": "BRL"},
                 on_batch=die)
""")


def sync(store_path: Path, name: str, source: Source, **options: Any) -> SyncSummary:
    """One sync of `source` into the store file, as `clientela sync` runs it."""
    with Store(store_path) as store:
        return run_sync(store, name, source, context=CONTEXT, **options)


def read(summary: SyncSummary, stream: str) -> int:
    return next((s.read for s in summary.streams if s.stream == stream), 0)


def snapshot(store_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a sync leaves in the data tables and quarantine, minus load times."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Store(store_path) as store:
        for table in ("customers", "orders", "order_lines"):
            cols = [c for (c,) in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name <> '_loaded_at' ORDER BY ordinal_position", [table]).fetchall()]
            out[table] = store.con.execute(
                f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()
        out["quarantine"] = store.con.execute(
            "SELECT source, entity, record_key, reason FROM quarantine ORDER BY ALL").fetchall()
    return out


class SourceContract:
    """Subclass as `Test<Platform>Contract`; see the module docstring for the hooks."""

    name: ClassVar[str]
    """The source's registered name."""
    distribution: ClassVar[str]
    """Its distribution, loaded by the killed subprocess (`CLIENTELA_LOAD_PLUGINS`)."""
    storm: ClassVar[int] = 9
    """How many 429s the storm test sends in a row."""
    retry_after: ClassVar[str] = "3"
    exact_waits: ClassVar[bool] = True
    """The storm's waits are all the source waits (False: it may also wait for other reasons,
    such as a cost bucket; then only the storm's own waits are counted)."""
    kill_stream: ClassVar[str] = "orders"
    kill_settings: ClassVar[Mapping[str, Any]] = {}
    """Options for the killed run and the resumes (smaller pages, so it dies mid-stream)."""

    # -- hooks a connector implements ------------------------------------------------------

    def settings(self, fake: Any, **options: Any) -> dict[str, Any]:
        """The source's settings, JSON-able, pointing at `fake`."""
        raise NotImplementedError

    def build(self, fake: Any, sleep: Any, **options: Any) -> Source:
        """The source over `fake`, sleeping with `sleep` (tests never really wait)."""
        raise NotImplementedError

    def expected(self, fake: Any) -> Any:
        """What `observed` must return once the store holds everything the fake has."""
        raise NotImplementedError

    def observed(self, store_path: Path) -> Any:
        raise NotImplementedError

    def edit(self, fake: Any) -> Mapping[str, int]:
        """Change records on the fake; return the reads the next sync should make, for the
        streams that read incrementally (a full-refresh stream is not named)."""
        raise NotImplementedError

    def full_sync_requests(self, fake: Any) -> int | None:
        """Requests a full sync makes, exactly; None: not checked."""
        return None

    def throttle(self, fake: Any) -> None:
        """Arm the storm: the next `storm` requests answer 429 with `retry_after`."""
        fake.faults.throttles = self.storm
        fake.faults.retry_after = self.retry_after

    def storm_wait(self, fake: Any) -> float:
        """The wait the platform asks for after each 429 (default: its `Retry-After`)."""
        return float(self.retry_after)

    def waits(self, fake: Any, sleeps: Sleeps) -> list[float]:
        """The waits the source asked for, where `build` was given `sleeps`."""
        return sleeps.waits

    def extra_full(self, fake: Any, store_path: Path, summary: SyncSummary) -> None:
        """Platform-specific checks after the full sync."""

    def extra_incremental(self, fake: Any, store_path: Path, summary: SyncSummary) -> None:
        """Platform-specific checks after the incremental sync (the fake's log holds only
        that sync's requests)."""

    def extra_resume(self, fake: Any, store_path: Path, committed: int) -> None:
        """Platform-specific checks after the resume (the fake's log holds only its
        requests); `committed` rows of `kill_stream` had landed before the kill."""

    # -- the contract ----------------------------------------------------------------------

    def test_full_sync_equals_the_fake(self, fake: Any, tmp_path: Path) -> None:
        store_path = tmp_path / "clientela.duckdb"
        summary = sync(store_path, self.name, self.build(fake, Sleeps()))
        assert self.observed(store_path) == self.expected(fake)
        assert summary.totals()["quarantined"] == 0
        wanted = self.full_sync_requests(fake)
        if wanted is not None:
            assert fake.count() == wanted
        self.extra_full(fake, store_path, summary)

    def test_edits_after_a_sync_are_picked_up_incrementally(self, fake: Any,
                                                            tmp_path: Path) -> None:
        store_path = tmp_path / "clientela.duckdb"
        sync(store_path, self.name, self.build(fake, Sleeps()))
        reads = dict(self.edit(fake))
        fake.reset_log()
        summary = sync(store_path, self.name, self.build(fake, Sleeps()))
        assert {stream: read(summary, stream) for stream in reads} == reads
        assert self.observed(store_path) == self.expected(fake)
        self.extra_incremental(fake, store_path, summary)

    def test_a_sync_with_nothing_new_writes_nothing(self, fake: Any, tmp_path: Path) -> None:
        store_path = tmp_path / "clientela.duckdb"
        sync(store_path, self.name, self.build(fake, Sleeps()))
        before = snapshot(store_path)
        summary = sync(store_path, self.name, self.build(fake, Sleeps()))
        assert summary.totals()["inserted"] == summary.totals()["updated"] == 0
        assert snapshot(store_path) == before

    def test_a_429_storm_is_waited_out_as_asked(self, fake: Any, tmp_path: Path) -> None:
        store_path = tmp_path / "clientela.duckdb"
        sleeps = Sleeps()
        self.throttle(fake)
        sync(store_path, self.name, self.build(fake, sleeps))
        assert fake.count(status=429) == self.storm
        waits = self.waits(fake, sleeps)
        if self.exact_waits:
            assert waits == [self.storm_wait(fake)] * self.storm
        else:
            assert waits.count(self.storm_wait(fake)) >= self.storm
        assert self.observed(store_path) == self.expected(fake)

    def test_sigkill_mid_sync_then_resume_equals_one_clean_sync(self, fake: Any,
                                                                tmp_path: Path) -> None:
        killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
        script = tmp_path / "killer.py"
        script.write_text(KILLER)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
               "CLIENTELA_LOAD_PLUGINS": self.distribution}
        settings = json.dumps(self.settings(fake, **self.kill_settings))
        done = subprocess.run([sys.executable, str(script), self.name, settings, str(killed),
                               self.kill_stream, "2"], env=env, check=False,
                              capture_output=True, timeout=300)
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2_000:]
        with Store(killed) as store:
            committed = store.con.execute(
                f"SELECT count(*) FROM {self.kill_stream}").fetchone()[0]  # type: ignore[index]
        assert committed > 0
        fake.reset_log()
        sync(killed, self.name, self.build(fake, Sleeps(), **self.kill_settings))
        resumed = fake.count()
        self.extra_resume(fake, killed, committed)
        fake.reset_log()
        sync(clean, self.name, self.build(fake, Sleeps(), **self.kill_settings))
        assert resumed < fake.count()  # it went on from where it died, not from the start
        assert committed < len(snapshot(clean)[self.kill_stream])  # it did die mid-stream
        assert snapshot(killed) == snapshot(clean)
        assert self.observed(killed) == self.expected(fake)


__all__ = ["CONTEXT", "Sleeps", "SourceContract", "read", "snapshot", "sync"]
