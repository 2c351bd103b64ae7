"""A push killed mid-way resumes without loss or duplicates; `forget` reaches everyone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from clientela.destinations.forget import digest, forget
from clientela.store import Store

from .conftest import N
from .fakes.mailchimp import FakeMailchimp
from .helpers import API_KEY, add_points, destination, email, run, state

HERE = Path(__file__).resolve().parent


def _push_in_a_child(store_path: Path, fake: FakeMailchimp) -> subprocess.Popen[bytes]:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE.parent)!r})
        from pathlib import Path
        from clientela.destinations.contacts import Segmentation
        from clientela.destinations.push import push
        from clientela.store import Store
        from clientela_mailchimp import MailchimpConfig, MailchimpDestination
        from destinations.helpers import AS_OF
        config = MailchimpConfig(api_key={API_KEY!r}, list_id={fake.list_id!r},
                                 base_url={fake.url!r}, batch_size=100, max_connections=1)
        with Store(Path({str(store_path)!r})) as store:
            push(store, "mailchimp", MailchimpDestination(config), Segmentation.rfm(), as_of=AS_OF)
    """)
    return subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))


def test_sigkill_mid_push_then_resume_loses_and_duplicates_nothing(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    add_points(store_path, list(range(N)), points=77)  # every contact changes, none moves
    mailchimp.reset_calls()
    arrived, never = threading.Event(), threading.Event()
    seen = {"upserts": 0}

    def on_request(request: object, number: int) -> None:
        if getattr(request, "method", "") == "POST" and \
                getattr(request, "path", "") == f"/3.0/lists/{mailchimp.list_id}":
            seen["upserts"] += 1
            if seen["upserts"] == 7:  # the 7th batch never gets an answer: kill the pusher
                arrived.set()
                never.wait(30)

    mailchimp.on_request = on_request
    child = _push_in_a_child(store_path, mailchimp)
    try:
        assert arrived.wait(60), "the child never reached its 7th batch"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        never.set()
        mailchimp.on_request = None
    assert child.returncode == -signal.SIGKILL

    with Store(store_path) as store:
        committed = store.con.execute(
            "SELECT count(*) FROM push_log l JOIN runs r USING (run_id) WHERE r.status = 'running' "
            "AND l.outcome = 'updated'").fetchone()
    assert committed is not None
    done = committed[0]
    # whole batches only, and none past the six that were answered (how many of those the
    # child committed before it died depends on timing; test_engine pins it down in-process)
    assert done % 100 == 0 and done <= 600
    mailchimp.reset_calls()

    report = run(store_path, mailchimp)

    assert report.outcomes["updated"] == N - done and report.unchanged == done
    assert sorted((len(c.body["members"]) for c in mailchimp.upsert_calls()), reverse=True) == \
        [500] * ((N - done) // 500) + ([(N - done) % 500] if (N - done) % 500 else [])
    assert mailchimp.write_count() == len(mailchimp.upsert_calls())
    assert len(mailchimp.members) == N
    assert all(m.merge_fields["POINTS"] == 77 for m in mailchimp.members.values())
    assert all(len(mailchimp.tags_of(m.email)) == 1 for m in mailchimp.members.values())
    mailchimp.reset_calls()
    assert run(store_path, mailchimp).unchanged == N and mailchimp.write_count() == 0


def test_forget_anonymises_the_store_and_deletes_permanently(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    person = email(42)
    opener = {"mailchimp": lambda: destination(mailchimp)}
    mailchimp.reset_calls()

    report = forget(store_path_store := Store(store_path), person.upper(), opener)
    store_path_store.close()

    assert report.done and report.customers == 1
    assert report.outcomes == {"mailchimp": "deleted"}
    assert mailchimp.member(person) is None
    assert [(c.method, c.path) for c in mailchimp.writes()] == [
        ("POST", f"/3.0/lists/{mailchimp.list_id}/members/"
                 f"{__import__('hashlib').md5(person.encode()).hexdigest()}/actions/delete-permanent")]
    with Store(store_path) as store:
        row = store.con.execute("SELECT email, phone, first_name, consent_email, consent_sms "
                                "FROM customers WHERE customer_id = 'c00042'").fetchone()
        request = store.con.execute("SELECT email, email_digest, status, customers FROM "
                                    "forget_requests").fetchall()
        outcomes = store.con.execute("SELECT destination, status FROM forget_outcomes").fetchall()
        orders = store.con.execute("SELECT count(*) FROM orders WHERE customer_id = 'c00042'"
                                   ).fetchone()
    assert row == (None, None, None, "unsubscribed", "unsubscribed")
    assert request == [(None, digest(person), "done", 1)]
    assert outcomes == [("mailchimp", "deleted")]
    assert orders is not None and orders[0] > 0  # the sales still count, anonymously
    assert "c00042" not in state(store_path)

    mailchimp.reset_calls()
    after = run(store_path, mailchimp)
    assert mailchimp.member(person) is None and after.planned["remove"] == 0
    assert after.contacts == N - 1


def test_a_failed_forget_is_completed_by_running_it_again(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    person = email(7)
    mailchimp.faults.server_errors = 3
    opener = {"mailchimp": lambda: destination(mailchimp, max_attempts=2)}

    with Store(store_path) as store:
        first = forget(store, person, opener)
    assert not first.done and first.outcomes == {"mailchimp": "failed"}
    assert mailchimp.member(person) is not None
    with Store(store_path) as store:
        kept = store.con.execute("SELECT email, status FROM forget_requests").fetchall()
        customer = store.con.execute("SELECT email FROM customers WHERE customer_id = 'c00007'"
                                     ).fetchone()
    assert kept == [(person, "open")]  # kept only while a destination still holds them
    assert customer == (None,)

    with Store(store_path) as store:
        second = forget(store, person, opener)
    assert second.done and second.request_id == first.request_id
    assert second.outcomes == {"mailchimp": "deleted"} and mailchimp.member(person) is None
    with Store(store_path) as store:
        outcomes = store.con.execute("SELECT status FROM forget_outcomes ORDER BY recorded_at"
                                     ).fetchall()
        final = store.con.execute("SELECT email, status FROM forget_requests").fetchall()
    assert outcomes == [("failed",), ("deleted",)]
    assert final == [(None, "done")]

    with Store(store_path) as store:
        again = forget(store, "nobody@example.com", opener)
    assert again.done and again.outcomes == {"mailchimp": "absent"} and again.customers == 0
