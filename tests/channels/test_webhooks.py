"""Delivery webhooks: signatures checked, replays applied once, statuses out of order, opt-out
replies stopping every later message on every channel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests
from clientela_channel_meta import CHANNEL as META
from clientela_channel_sendgrid import CHANNEL as SENDGRID
from clientela_channel_twilio import register_channels as twilio_channels

from clientela.store import Store

from .fakes import meta as meta_fake
from .helpers import (
    ALL_OUT,
    build_store,
    candidates,
    consents,
    dispatcher,
    meta_config,
    meta_route,
    people,
    person,
    plan,
    post,
    receiver,
    sendgrid_config,
    sendgrid_route,
    statuses,
    step,
    twilio_config,
    twilio_route,
)


def _twilio_channel(name: str) -> Any:
    found: dict[str, Any] = {}
    twilio_channels(lambda channel: found.setdefault(channel.name, channel))
    return found[name]


def test_twilio_statuses_out_of_order_forged_and_replayed(
        clientela_store_target: str, tmp_path: Path, twilio) -> None:
    path = build_store(clientela_store_target, people(4))
    channels = {"twilio_sms": (_twilio_channel("twilio_sms"), None)}
    with receiver(path, channels) as base:
        callback = f"{base}/channels/twilio_sms"
        config = twilio_config(twilio, callback)
        channels["twilio_sms"] = (channels["twilio_sms"][0], config)
        with Store(path) as store:
            plan(store, step("sms"), candidates(f"c{i:04d}" for i in range(4)))
            assert dispatcher(store, [twilio_route(twilio, callback=callback)]).run().sent == 4
        failed = {twilio.accepted[3].id}
        events = twilio.status_callbacks(seed=3, failed=failed)
        assert len(events) == 12
        for url, form in events + events[:4]:  # four replays
            answer = post(url, form, twilio.sign(url, form))
            assert answer.status_code == 200, answer.text
        url, form = events[0]
        forged = dict(form, MessageStatus="failed")
        assert post(url, forged, twilio.sign(url, form)).status_code == 401
        assert post(url, form, {"Content-Type": "application/x-www-form-urlencoded"}
                    ).status_code == 401
    with Store(path) as store:
        got = statuses(store)
        assert sorted(got.values()) == [("delivered", None)] * 3 + [("failed", "twilio 30003")]
        n = store.con.execute("SELECT count(*) FROM message_events").fetchone()
        assert n == (8,)  # queued says nothing: sent and delivered (or undelivered), once each


def test_meta_handshake_signature_and_settling_a_crashed_send(
        clientela_store_target: str, tmp_path: Path, meta) -> None:
    path = build_store(clientela_store_target, [person("a", phone="+5511911112222")])
    config = meta_config(meta)
    with receiver(path, {"meta_whatsapp": (META, config)}) as base:
        url = f"{base}/channels/meta_whatsapp"
        ok = requests.get(url, params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                       "hub.verify_token": meta_fake.VERIFY_TOKEN}, timeout=10)
        assert (ok.status_code, ok.text) == (200, "1158201444")
        bad = requests.get(url, params={"hub.mode": "subscribe", "hub.challenge": "x",
                                        "hub.verify_token": "guess"}, timeout=10)
        assert bad.status_code == 403
        with Store(path) as store:
            plan(store, step("whatsapp"), candidates(["a"]))
            route = meta_route(meta)
            # the provider accepts the message but the process dies before recording it
            from clientela.journeys import ledger

            row = ledger.due(store.con, datetime_now())[0]
            ledger.mark_calling(store.con, [row.message_key], datetime_now())
            from clientela.journeys.dispatch import to_outgoing

            route.sender.send(to_outgoing(row))
            report = dispatcher(store, [route]).run()
            assert (report.unsettled, report.sent) == (1, 0)  # not sent again on a guess
            assert len(meta.accepted) == 1
        bodies = meta.statuses(seed=1)
        assert post(url, bodies[0], meta.sign(bodies[0], "wrong-secret")).status_code == 401
        for body in bodies:
            assert post(url, body, meta.sign(body)).status_code == 200
    with Store(path) as store:
        assert statuses(store) == {"a": ("read", None)}
        assert store.con.execute("SELECT provider_id FROM messages").fetchone() == (
            meta.accepted[0].id,)


def datetime_now() -> Any:
    from .helpers import NOON

    return NOON


def test_stop_reply_stops_every_later_message_on_every_channel(
        clientela_store_target: str, tmp_path: Path, meta, twilio, sendgrid) -> None:
    path = build_store(clientela_store_target, [person("a", phone="+55 (11) 91111-2222"),
                                               person("b", phone="+5511933334444")])
    config = meta_config(meta)
    with receiver(path, {"meta_whatsapp": (META, config)}) as base:
        body = meta.reply("5511911112222", "  Pare. ", ts=int(time.time()) + 1)
        assert post(f"{base}/channels/meta_whatsapp", body, meta.sign(body)).status_code == 200
        # the same reply delivered again changes nothing more
        assert post(f"{base}/channels/meta_whatsapp", body, meta.sign(body)).json() == {
            "accepted": 0, "replays": 1}
    with Store(path) as store:
        for medium in ("whatsapp", "sms", "email"):
            plan(store, step(medium, origin=f"later_{medium}"), candidates(["a", "b"]))
        report = dispatcher(store, [meta_route(meta), twilio_route(twilio),
                                    sendgrid_route(sendgrid)]).run()
        assert report.sent == 3
        rows = store.con.execute("SELECT medium, status, reason FROM messages WHERE "
                                 "customer_id = 'a' ORDER BY medium").fetchall()
        assert rows == [("email", "suppressed", "opted_out"), ("sms", "suppressed", "opted_out"),
                        ("whatsapp", "suppressed", "opted_out")]
    assert [m.to for m in meta.accepted] == ["+5511933334444"]
    assert [m.to for m in twilio.accepted] == ["+5511933334444"]
    assert [m.to for m in sendgrid.accepted] == ["b@example.com"]


def test_sendgrid_ecdsa_stale_and_unsubscribe(clientela_store_target: str, tmp_path: Path, sendgrid) -> None:
    path = build_store(clientela_store_target, people(2))
    config = sendgrid_config(sendgrid)
    sendgrid.bounces.add("c0001@example.com")
    with Store(path) as store:
        plan(store, step("email"), candidates(["c0000", "c0001"]))
        assert dispatcher(store, [sendgrid_route(sendgrid)]).run().sent == 2
    with receiver(path, {"sendgrid_mail": (SENDGRID, config)}) as base:
        url = f"{base}/channels/sendgrid_mail"
        for body in sendgrid.events(seed=5):
            assert post(url, body, sendgrid.sign(body)).status_code == 200
        body = sendgrid.events()[0]
        assert post(url, body, sendgrid.sign(body, timestamp=1_700_000_000)).status_code == 401
        tampered = body.replace(b"processed", b"delivered")
        headers = sendgrid.sign(body)
        assert post(url, tampered, headers).status_code == 401
        first = next(m for m in sendgrid.accepted if m.to == "c0000@example.com")
        unsubscribe = sendgrid.unsubscribe(first)
        assert post(url, unsubscribe, sendgrid.sign(unsubscribe)).status_code == 200
    with Store(path) as store:
        got = statuses(store)
        assert got["c0000"] == ("read", None)
        status, reason = got["c0001"]
        assert status == "failed" and reason is not None and "bounce" in reason
        assert consents(store, "c0000") == ALL_OUT
        assert consents(store, "c0001")["email/marketing"] == "opted_in"
    assert json.loads(unsubscribe)[0]["event"] == "unsubscribe"
