"""SIGKILL a push at each of its phases; one re-run must equal one clean push.

The push runs in a child process; the fake Mailchimp kills it right after
applying a chosen request (so the destination changed and the push never
heard back). Then one ordinary push runs, and the audience is compared,
member by member (status, merge fields, tags), with a fresh fake that got
the same two pushes without a kill. HubSpot the same, with subscription types
mapped to marketing and relationship: contacts and their properties, and every
per-type unsubscribe, each sent exactly once; and killed amid the unsubscribes a push makes
beyond its changes (a type mapped after the contacts opted out).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from destinations.fakes.hubspot import FakeHubSpot
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.helpers import add_points

from clientela.consent import ConsentEvent, record
from clientela.store import Store
from clientela.testing.fake_server import Request

from .support import (
    AS_OF,
    build_store,
    email,
    later,
    orders_for,
    push_hubspot,
    push_mailchimp,
    wrong_tags,
)

N = 300
CHILD = Path(__file__).with_name("_push_child.py")


def change_the_store(path: Path) -> None:
    """A third of the customers order today (their segment moves), some earn points, and
    three opt out."""
    with Store(path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": f"today{i}", "placed_at": AS_OF - timedelta(hours=3)})
            for i in range(0, N, 3)])
    add_points(path, list(range(1, N, 7)), points=40)
    from destinations.helpers import customers

    with Store(path) as store:
        store.upsert([c.model_copy(update={"consent_email": "unsubscribed"})
                      for c in customers(N)[5:8]])


def more_orders(path: Path) -> None:
    with Store(path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": f"later{i}", "placed_at": AS_OF - timedelta(hours=1), "total": 900,
            "subtotal": 900}) for i in range(1, N, 4)])


def segment_call(adds: bool, removes: bool) -> Callable[[Request], bool]:
    def matches(request: Request) -> bool:
        body = request.body if isinstance(request.body, dict) else {}
        return (request.method == "POST" and "/segments/" in request.path
                and bool(body.get("members_to_add")) == adds
                and (not removes or bool(body.get("members_to_remove"))))
    return matches


PHASES: dict[str, tuple[Callable[[Request], bool], int]] = {
    # (which request, kill after its n-th occurrence)
    "reading": (lambda r: r.method == "GET" and r.path.endswith("/members"), 1),
    "upserting": (lambda r: r.method == "POST" and r.path.endswith("/lists/list0001"), 2),
    "tagging": (segment_call(adds=True, removes=False), 2),
    "untagging": (segment_call(adds=False, removes=True), 1),
}


def kill_at(fake: FakeMailchimp, phase: str, pid: dict[str, subprocess.Popen[bytes]]) -> None:
    matches, nth = PHASES[phase]
    seen = [0]
    lock = threading.Lock()

    def after(request: Request, reply: Any) -> None:
        with lock:
            if not matches(request):
                return
            seen[0] += 1
            if seen[0] == nth:
                os.kill(pid["child"].pid, signal.SIGKILL)
    fake.after = after


def run_killed_child(*args: str, pid: dict[str, subprocess.Popen[bytes]]) -> None:
    """Push in a child process (`_push_child.py args`), which the fake must SIGKILL; the
    child is in `pid["child"]` from its start."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    pid["child"] = subprocess.Popen([sys.executable, str(CHILD), *args], env=env,
                                    stderr=subprocess.PIPE)
    _, err = pid["child"].communicate(timeout=120)
    assert pid["child"].returncode == -signal.SIGKILL, err.decode()[-2000:]


def differences(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """Each key whose value differs between two snapshots: (got, wanted)."""
    return {key: (got.get(key), want.get(key)) for key in set(got) | set(want)
            if got.get(key) != want.get(key)}


def twin_stores(tmp_path: Path) -> tuple[Path, Path]:
    """The store the killed push runs on, and its twin for the clean run."""
    path, fresh = tmp_path / "store.duckdb", tmp_path / "fresh.duckdb"
    build_store(path, N)
    build_store(fresh, N)
    return path, fresh


def push_runs(path: Path) -> list[str]:
    """The status of each push run, oldest first."""
    with Store(path) as store:
        return [r[0] for r in store.con.execute(
            "SELECT status FROM runs WHERE kind = 'push' ORDER BY started_at").fetchall()]


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(PHASES))
def test_sigkill_then_one_rerun_equals_one_clean_push(tmp_path: Path, phase: str) -> None:
    path, fresh = twin_stores(tmp_path)
    with FakeMailchimp() as fake, FakeMailchimp() as clean:
        push_mailchimp(path, fake)
        push_mailchimp(fresh, clean)
        change_the_store(path)
        change_the_store(fresh)
        pid: dict[str, subprocess.Popen[bytes]] = {}
        kill_at(fake, phase, pid)
        run_killed_child("mailchimp", str(path), fake.url, fake.list_id, pid=pid)
        fake.after = None
        more_orders(path)  # life goes on before the next push
        more_orders(fresh)

        report = push_mailchimp(path, fake, batch_size=50)
        push_mailchimp(fresh, clean, batch_size=50)

        assert report.healed and report.failed == 0
        assert differences(fake.snapshot(), clean.snapshot()) == {}
        assert wrong_tags(fake, path) == set()
        assert push_runs(path) == ["ok", "interrupted", "ok"]
        fake.reset_calls()  # healed for good: the next push has nothing to write
        push_mailchimp(path, fake)
        assert fake.write_count() == 0


RELATIONSHIP_OPT_OUTS = [*range(10, N, 25), 6]
"""Customers who opt out of relationship e-mail (6 opts out of marketing too)."""


def opt_out_of_relationship(path: Path) -> None:
    with Store(path) as store:
        record(store, [ConsentEvent(customer_id=f"c{i:05d}", channel="email",
                                    purpose="relationship", status="opted_out",
                                    address=email(i), occurred_at=later(), source="pos",
                                    evidence="asked at the till")
                       for i in RELATIONSHIP_OPT_OUTS])


def is_unsubscribe(request: Request) -> bool:
    return request.path == "/communication-preferences/v3/unsubscribe"


def is_upsert(request: Request) -> bool:
    return request.path.endswith("/contacts/batch/upsert")


HUBSPOT_PHASES: dict[str, tuple[Callable[[Request], bool], int]] = {
    "reading": (lambda r: r.path.endswith("/contacts/search"), 1),
    "unsubscribing": (is_unsubscribe, 5),  # after the marketing ones, amid the relationship
    "upserting": (is_upsert, 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(HUBSPOT_PHASES))
def test_hubspot_sigkill_then_one_rerun_equals_one_clean_push(tmp_path: Path,
                                                                phase: str) -> None:
    path, fresh = twin_stores(tmp_path)
    with FakeHubSpot() as fake, FakeHubSpot() as clean:
        push_hubspot(path, fake)
        push_hubspot(fresh, clean)
        for store_path in (path, fresh):
            change_the_store(store_path)
            opt_out_of_relationship(store_path)
        matches, nth = HUBSPOT_PHASES[phase]
        seen, killed = [0], [False]
        pid: dict[str, subprocess.Popen[bytes]] = {}

        def kill(request: Request, number: int) -> None:
            if matches(request) and not killed[0]:
                seen[0] += 1
                if seen[0] == nth:  # HubSpot still applies it: the push never hears back
                    pid["child"].kill()
                    killed[0] = True
                    pid["child"].wait(30)

        fake.reset_calls()
        fake.on_request = kill
        try:
            run_killed_child("hubspot", str(path), fake.url, pid=pid)
        finally:
            fake.on_request = None
        more_orders(path)
        more_orders(fresh)
        clean.reset_calls()

        report = push_hubspot(path, fake, batch_size=50)
        push_hubspot(fresh, clean, batch_size=50)

        assert report.healed and report.failed == 0
        assert differences(fake.snapshot(), clean.snapshot()) == {}
        sent = [(c.body["emailAddress"], c.body["subscriptionId"])
                for c in fake.unsubscribe_calls()]
        wanted = sorted((c.body["emailAddress"], c.body["subscriptionId"])
                        for c in clean.unsubscribe_calls())
        assert sorted(sent) == wanted and len(set(sent)) == len(sent)  # each one once
        assert wanted == sorted([(email(i), "7400001") for i in (5, 6, 7)]
                                + [(email(i), "7400003") for i in RELATIONSHIP_OPT_OUTS])
        assert fake.violations == []
        assert push_runs(path) == ["ok", "interrupted", "ok"]
        fake.reset_calls()
        push_hubspot(path, fake)
        assert fake.write_count() == 0


@pytest.mark.slow
def test_hubspot_sigkill_amid_opt_outs_beyond_the_changes_then_one_rerun(
        tmp_path: Path) -> None:
    """Relationship opt-outs carried while only a marketing type was mapped; then the
    relationship type is mapped, and the push writing it for every contact that opted out
    before (none of them changed) is killed amid those unsubscribes. One re-run writes the
    rest: each sent once, HubSpot as after the same pushes without a kill."""
    path, fresh = twin_stores(tmp_path)
    marketing_only = {"7400001": "marketing"}
    with FakeHubSpot() as fake, FakeHubSpot() as clean:
        for store_path, twin in ((path, fake), (fresh, clean)):
            opt_out_of_relationship(store_path)
            push_hubspot(store_path, twin, subscription_types=marketing_only)
            twin.reset_calls()
        seen, killed = [0], [False]
        pid: dict[str, subprocess.Popen[bytes]] = {}

        def kill(request: Request, number: int) -> None:
            if is_unsubscribe(request) and not killed[0]:
                seen[0] += 1
                if seen[0] == 4:  # HubSpot still applies it: the push never hears back
                    pid["child"].kill()
                    killed[0] = True
                    pid["child"].wait(30)

        fake.on_request = kill
        try:
            run_killed_child("hubspot", str(path), fake.url, pid=pid)
        finally:
            fake.on_request = None

        report = push_hubspot(path, fake, batch_size=50)
        push_hubspot(fresh, clean, batch_size=50)

        assert report.failed == 0 and report.consent["opt_outs_written"] == len(
            RELATIONSHIP_OPT_OUTS) - 4
        assert differences(fake.snapshot(), clean.snapshot()) == {}
        sent = [(c.body["emailAddress"], c.body["subscriptionId"])
                for c in fake.unsubscribe_calls()]
        assert sorted(sent) == sorted((email(i), "7400003") for i in RELATIONSHIP_OPT_OUTS)
        assert len(set(sent)) == len(sent)  # each one once
        assert push_runs(path) == ["ok", "interrupted", "ok"]
        fake.reset_calls()
        push_hubspot(path, fake)
        assert fake.write_count() == 0


def ledger(path: Path) -> list[tuple[Any, ...]]:
    """Every consent event a destination gave, and the read marks."""
    with Store(path) as store:
        events = store.con.execute(
            "SELECT customer_id, purpose, status, occurred_at, source, evidence "
            "FROM consent_events WHERE source IN ('mailchimp', 'sendgrid') "
            "ORDER BY ALL").fetchall()
        marks = store.con.execute(
            "SELECT destination FROM push_consent_reads ORDER BY 1").fetchall()
    return [*events, *marks]


@pytest.mark.slow
@pytest.mark.parametrize("killed_in", ["mailchimp", "sendgrid"])
def test_sigkill_in_the_read_first_phase_then_a_rerun_loses_nothing_and_repeats_nothing(
        tmp_path: Path, killed_in: str) -> None:
    """The phase reads Mailchimp, commits, then SendGrid. Killed while reading either, one
    re-run leaves the ledger exactly as one clean read of both: every opt-out once."""
    from destinations.fakes.sendgrid import FakeSendGrid
    from destinations.helpers import destination as mailchimp_destination

    from clientela.destinations.api import Opener
    from clientela.destinations.read_first import read_all

    from .support import sendgrid_destination

    path, fresh = twin_stores(tmp_path)
    pid: dict[str, subprocess.Popen[bytes]] = {}
    with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
        for i in range(0, 40, 4):
            mailchimp.add_member(email(i), "unsubscribed")
        mailchimp.add_member(email(41), "cleaned")
        sendgrid.global_unsubscribes.update(email(i) for i in range(2, 40, 6))

        def kill_after_mailchimp_read(request: Request, reply: Any) -> None:
            if request.method == "GET" and request.path.endswith("/members"):
                os.kill(pid["child"].pid, signal.SIGKILL)

        def kill_at_sendgrid_read(request: Request, number: int) -> None:
            os.kill(pid["child"].pid, signal.SIGKILL)

        if killed_in == "mailchimp":  # it read, the phase never heard back
            mailchimp.after = kill_after_mailchimp_read
        else:  # Mailchimp's read committed, SendGrid's under way
            sendgrid.on_request = kill_at_sendgrid_read
        run_killed_child("read-first", str(path), mailchimp.url, mailchimp.list_id,
                         sendgrid.url, sendgrid.api_key, pid=pid)
        mailchimp.after, sendgrid.on_request = None, None
        # 11 Mailchimp opt-outs and its read mark, or nothing
        assert len(ledger(path)) == (0 if killed_in == "mailchimp" else 11 + 1)

        def both() -> dict[str, Opener]:
            return {"mailchimp": lambda: mailchimp_destination(mailchimp),
                    "sendgrid": lambda: sendgrid_destination(sendgrid.url, sendgrid.api_key)}

        with Store(path) as store:
            rerun = read_all(store, both())
        with Store(fresh) as store:
            clean = read_all(store, both())

    assert [o.status for o in rerun] == [o.status for o in clean] == ["read", "read"]
    assert ledger(path) == ledger(fresh)
    # SendGrid adds 4 of its 7: c00008, c00020 and c00032 opted out at Mailchimp already
    assert len(ledger(fresh)) == 11 + 4 + 2
