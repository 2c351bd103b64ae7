"""Every suppression reason, decided at planning and again just before sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from channels.helpers import (
    NOON,
    SAO_PAULO,
    WA_TEMPLATE,
    candidates,
    config,
    dispatcher,
    plan,
    sendgrid_route,
    step,
    twilio_route,
)

from clientela.channels import ChannelEvent
from clientela.journeys import ledger
from clientela.journeys.consent import record_opt_out
from clientela.journeys.forget import forget_messages
from clientela.journeys.planner import Candidate, Planner
from clientela.journeys.templates import ChannelTemplate
from clientela.store import Store

from .helpers import customer, write


def reasons(planned: list[ledger.Planned]) -> dict[str, tuple[str, str | None]]:
    return {p.customer_id: (p.status, p.reason) for p in planned}


def test_consent_address_and_forgotten(clientela_store_target: str, tmp_path: Path) -> None:
    path = write(clientela_store_target, [
        customer("ok"), customer("unknown", phone="+5511987650001", consent_sms="unknown"),
        customer("pending", phone="+5511987650002", consent_sms="pending"),
        customer("no", phone="+5511987650003", consent_sms="unsubscribed"),
        customer("nophone", phone=None), customer("badphone", phone="12345"),
        customer("gone", phone="+5511987650004")])
    with Store(path) as store:
        forget_messages(store, ["gone"])
        planned = plan(store, step("sms"), candidates(
            ["ok", "unknown", "pending", "no", "nophone", "badphone", "gone", "absent"]))
    assert reasons(planned) == {
        "ok": ("planned", None), "unknown": ("suppressed", "no_consent"),
        "pending": ("suppressed", "no_consent"), "no": ("suppressed", "opted_out"),
        "nophone": ("suppressed", "no_address"), "badphone": ("suppressed", "no_address"),
        "gone": ("suppressed", "forgotten"), "absent": ("suppressed", "no_address")}


def test_fallback_takes_the_first_channel_that_can_reach_the_person(
        clientela_store_target: str, tmp_path: Path) -> None:
    path = write(clientela_store_target, [
        customer("wa"), customer("sms", phone="+5511987650001", consent_whatsapp="unknown"),
        customer("mail", phone=None), customer("none", phone=None, consent_email="unsubscribed")])
    with Store(path) as store:
        planned = plan(store, step("whatsapp", "sms", "email"),
                       candidates(["wa", "sms", "mail", "none"]))
    got = {p.customer_id: (p.medium, p.status, p.reason) for p in planned}
    assert got == {"wa": ("whatsapp", "planned", None), "sms": ("sms", "planned", None),
                   "mail": ("email", "planned", None),
                   # the first channel's reason is the one recorded
                   "none": ("whatsapp", "suppressed", "no_address")}


def test_whatsapp_free_text_needs_an_open_conversation(clientela_store_target: str, tmp_path: Path) -> None:
    path = write(clientela_store_target, [customer("talked", phone="+5511911112222"),
                                         customer("silent", phone="+5511933334444")])
    free = ChannelTemplate(text={"pt_BR": "Oi {first_name}"})
    with Store(path) as store:
        inbound = ChannelEvent("inbound", "wamid.1", NOON - timedelta(hours=3),
                               address="+5511911112222", text="oi")
        ledger.record_inbound(store.con, "meta_whatsapp", "whatsapp", inbound, "talked", "d",
                              False)
        planned = plan(store, step("whatsapp", templates={"whatsapp": free}),
                       candidates(["talked", "silent"]))
        templated = plan(store, step("whatsapp", origin="t", templates={"whatsapp": WA_TEMPLATE}),
                         candidates(["silent"]))
    assert reasons(planned) == {"talked": ("planned", None),
                                "silent": ("suppressed", "outside_window")}
    assert reasons(templated) == {"silent": ("planned", None)}


def test_quiet_hours_drop_marketing_and_delay_relationship(
        clientela_store_target: str, tmp_path: Path) -> None:
    path = write(clientela_store_target, [
        customer("sp"), customer("ny", phone="+5511987650001",
                                 attributes={"timezone": "America/New_York"})])
    late = datetime(2026, 12, 11, 1, 30, tzinfo=UTC)  # 22:30 in São Paulo, 20:30 in New York
    with Store(path) as store:
        dropped = plan(store, step("sms"), candidates(["sp", "ny"], due=late),
                       config(quiet_marketing="drop"))
        waits = plan(store, step("sms", purpose="relationship", origin="r"),
                     candidates(["sp", "ny"], due=late))
    assert reasons(dropped) == {"sp": ("suppressed", "quiet_hours"), "ny": ("planned", None)}
    due = {p.customer_id: p.due_at for p in waits}
    assert due == {"sp": datetime(2026, 12, 11, 12, 0, tzinfo=UTC), "ny": late}


def test_frequency_cap_per_channel_and_purpose(
        clientela_store_target: str, tmp_path: Path, twilio, sendgrid) -> None:
    path = write(clientela_store_target, [customer("a", phone="+5511987650001"), customer("b")])
    with Store(path) as store:
        plan(store, step("sms", origin="first"), candidates(["a"]))
        assert dispatcher(store, [twilio_route(twilio)]).run().sent == 1
        two_later = NOON + timedelta(hours=2)
        planner = Planner(store, config(), SAO_PAULO, two_later)
        planned = planner.plan(step("sms", origin="second"), [
            Candidate("a", "x", two_later, {"points": 1}), Candidate("b", "x", two_later),
            Candidate("b", "y", two_later + timedelta(hours=1))])
        # relationship messages and other channels are not capped
        other = plan(store, step("email", origin="mail"), candidates(["a"], due=two_later))
        rel = plan(store, step("sms", purpose="relationship", origin="rel"),
                   candidates(["a"], due=two_later))
        day_later = plan(store, step("sms", origin="third"),
                         candidates(["a"], due=NOON + timedelta(hours=24)))
    assert [(p.customer_id, p.status, p.reason) for p in planned] == [
        ("a", "suppressed", "frequency_cap"), ("b", "planned", None),
        ("b", "suppressed", "frequency_cap")]
    assert reasons(other) == reasons(rel) == reasons(day_later) == {"a": ("planned", None)}


def test_consent_withdrawn_after_planning_is_checked_before_sending(
        clientela_store_target: str, tmp_path: Path, twilio, sendgrid) -> None:
    path = write(clientela_store_target, [customer("a", phone="+5511987650001"), customer("b")])
    with Store(path) as store:
        plan(store, step("sms"), candidates(["a", "b"]))
        plan(store, step("email", origin="m2"), candidates(["a"], due=NOON + timedelta(hours=1)))
        record_opt_out(store, ["a"], ["sms"], ["marketing"], source="import",
                       evidence="unsubscribed in the store", occurred_at=NOON)
        report = dispatcher(store, [twilio_route(twilio), sendgrid_route(sendgrid)],
                            now=NOON + timedelta(hours=1)).run()
        assert (report.sent, report.suppressed) == (2, {"opted_out": 1})
        rows = store.con.execute("SELECT customer_id, medium, status, reason FROM messages "
                                 "ORDER BY ALL").fetchall()
    assert rows == [("a", "email", "sent", None), ("a", "sms", "suppressed", "opted_out"),
                    ("b", "sms", "sent", None)]
    assert [m.to for m in twilio.accepted] == ["+5511987650000"] and len(twilio.accepted) == 1


def test_quiet_hours_reached_before_sending_wait_for_the_morning(
        clientela_store_target: str, tmp_path: Path, twilio) -> None:
    path = write(clientela_store_target, [customer("a")])
    with Store(path) as store:
        plan(store, step("sms", purpose="relationship"), candidates(["a"]))
        night = datetime(2026, 12, 11, 1, 0, tzinfo=UTC)  # 22:00 in São Paulo
        report = dispatcher(store, [twilio_route(twilio)], now=night).run()
        assert (report.sent, report.deferred) == (0, 1)
        row = store.con.execute("SELECT status, due_at FROM messages").fetchone()
        assert row == ("planned", datetime(2026, 12, 11, 12, 0))
        morning = datetime(2026, 12, 11, 12, 0, tzinfo=UTC)
        assert dispatcher(store, [twilio_route(twilio)], now=morning).run().sent == 1


def test_forget_blanks_the_ledger_and_suppresses_pending(
        clientela_store_target: str, tmp_path: Path, twilio) -> None:
    path = write(clientela_store_target, [customer("a", phone="+5511987650001"), customer("b")])
    with Store(path) as store:
        plan(store, step("sms"), candidates(["a", "b"]))
        plan(store, step("sms", origin="later"), candidates(["a"], due=NOON + timedelta(days=2)))
        dispatcher(store, [twilio_route(twilio)]).run()
        assert forget_messages(store, ["a"]) == 2
        rows = store.con.execute("SELECT origin, status, reason, address, body, variables FROM "
                                 "messages WHERE customer_id = 'a' ORDER BY origin").fetchall()
        kept = store.con.execute("SELECT address FROM messages WHERE customer_id = 'b'"
                                 ).fetchone()
    assert rows == [("later", "suppressed", "forgotten", None, None, None),
                    ("teste", "sent", None, None, None, None)]
    assert kept == ("+5511987650000",)
