"""Sending through the fakes: each message once, errors classified, pacing and 429s."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from clientela.channels import ChannelLimits, Pacer
from clientela.store import Store

from .helpers import (
    ALL_OUT,
    NOON,
    NoSleep,
    build_store,
    candidates,
    config,
    consents,
    dispatcher,
    meta_route,
    people,
    person,
    plan,
    sendgrid_route,
    statuses,
    step,
    twilio_route,
)


def test_sms_sent_once_each_and_rerun_sends_nothing(tmp_path: Path, twilio) -> None:
    path = build_store(tmp_path / "s.duckdb", people(5))
    with Store(path) as store:
        plan(store, step("sms"), candidates(f"c{i:04d}" for i in range(5)))
        report = dispatcher(store, [twilio_route(twilio)]).run()
        assert report.sent == 5
        assert [m.body for m in twilio.accepted] == ["Oi Ana, 120 pontos na Loja!"] * 5
        # planning the same occurrence again adds nothing; dispatching again sends nothing
        plan(store, step("sms"), candidates(f"c{i:04d}" for i in range(5)))
        assert dispatcher(store, [twilio_route(twilio)]).run().sent == 0
        assert len(twilio.accepted) == 5
        assert set(statuses(store).values()) == {("sent", None)}


def test_twilio_21610_is_an_opt_out_that_stops_every_channel(tmp_path: Path, twilio, sendgrid
                                                             ) -> None:
    path = build_store(tmp_path / "s.duckdb", people(3))
    twilio.opted_out.add("+5511900000001")
    with Store(path) as store:
        plan(store, step("sms"), candidates(["c0000", "c0001", "c0002"]))
        report = dispatcher(store, [twilio_route(twilio)]).run()
        assert (report.sent, report.opted_out) == (2, 1)
        assert statuses(store)["c0001"] == ("failed", "opted_out")
        assert consents(store, "c0001") == ALL_OUT
        # a later e-mail to the same person is suppressed at planning
        plan(store, step("email", origin="later"), candidates(["c0001"], occurrence="x"))
        row = store.con.execute("SELECT status, reason FROM messages WHERE origin = 'later'"
                                ).fetchone()
        assert row == ("suppressed", "opted_out")
        assert dispatcher(store, [sendgrid_route(sendgrid)]).run().sent == 0
        assert sendgrid.accepted == []


def test_failing_mid_batch_fails_one_and_sends_the_rest(tmp_path: Path, twilio) -> None:
    path = build_store(tmp_path / "s.duckdb", people(6))
    twilio.invalid.add("+5511900000003")
    twilio.faults.server_errors = 2  # the first call fails twice with 503, then goes through
    with Store(path) as store:
        plan(store, step("sms"), candidates(f"c{i:04d}" for i in range(6)))
        report = dispatcher(store, [twilio_route(twilio)]).run()
        assert (report.sent, report.failed, report.retried) == (5, 1, 2)
        status, reason = statuses(store)["c0003"]
        assert status == "failed" and reason is not None and reason.startswith("21211")
        assert twilio.duplicates() == 0 and len(twilio.accepted) == 5


def test_429_storm_waits_as_asked_and_loses_nothing(tmp_path: Path, twilio) -> None:
    path = build_store(tmp_path / "s.duckdb", people(4))
    twilio.faults.throttles = 7
    twilio.faults.retry_after = "3"
    sleeper = NoSleep()
    pacer = Pacer(ChannelLimits(per_second=1_000.0), clock=sleeper.clock, sleep=sleeper.sleep)
    with Store(path) as store:
        plan(store, step("sms"), candidates(f"c{i:04d}" for i in range(4)))
        report = dispatcher(store, [twilio_route(twilio, pacer=pacer)], config(max_retries=3)).run()
        # 7 throttles: the first message gives up after 4 tries (back in the queue a minute
        # later), the second succeeds after 3 more; the rest go through
        assert (report.retried, report.sent, report.deferred) == (7, 3, 1)
        assert [round(w, 3) for w in sleeper.waits if w >= 1] == [3.0] * 6
        assert twilio.duplicates() == 0
        row = store.con.execute("SELECT status, attempts, due_at FROM messages WHERE "
                                "status = 'planned'").fetchall()
        assert row == [("planned", 1, (NOON + timedelta(minutes=1)).replace(tzinfo=None))]
        # what was deferred goes out on a run a minute later, once
        later = dispatcher(store, [twilio_route(twilio, pacer=pacer)],
                           now=NOON + timedelta(minutes=1)).run()
        assert later.sent == 1 and len(twilio.accepted) == 4


def test_pacing_respects_rate_and_recipient_gap() -> None:
    sleeper = NoSleep()
    pacer = Pacer(ChannelLimits(per_second=2.0, per_recipient_seconds=6.0),
                  clock=sleeper.clock, sleep=sleeper.sleep)
    starts = []
    for to in ["a", "b", "c", "a"]:
        pacer.wait_turn(to)
        starts.append(sleeper.now)
    assert starts == [0.0, 0.5, 1.0, 6.0]


def test_whatsapp_template_and_sendgrid_mail(tmp_path: Path, meta, sendgrid) -> None:
    path = build_store(tmp_path / "s.duckdb", [person("a", phone="+5511911112222"),
                                               person("b", phone=None)])
    with Store(path) as store:
        plan(store, step("whatsapp", "email"), candidates(["a", "b"]))
        report = dispatcher(store, [meta_route(meta), sendgrid_route(sendgrid)]).run()
        assert report.sent == 2
        assert [(m.to, m.template, m.variables) for m in meta.accepted] == [
            ("+5511911112222", "pontos_boas_vindas", ["Ana", "120"])]
        assert [(m.to, m.extra["subject"], m.body) for m in sendgrid.accepted] == [
            ("b@example.com", "Seus pontos", "Oi Ana, 120 pontos.")]
