"""Mailchimp Transactional, Zenvia and Twilio WhatsApp, each against its fake."""

from __future__ import annotations

import json
from pathlib import Path

from clientela_channel_mandrill import CHANNEL as MANDRILL
from clientela_channel_mandrill.channel import MandrillConfig, MandrillSender
from clientela_channel_zenvia import register_channels as zenvia_channels
from clientela_channel_zenvia.channel import ZenviaConfig, ZenviaSender

from clientela.journeys import ledger
from clientela.journeys.dispatch import Route, to_outgoing
from clientela.store import Store

from .fakes import mandrill as mandrill_fake
from .fakes import zenvia as zenvia_fake
from .helpers import (
    ALL_OUT,
    NOON,
    WA_TEMPLATE,
    NoSleep,
    build_store,
    candidates,
    config,
    consents,
    dispatcher,
    people,
    person,
    plan,
    post,
    receiver,
    statuses,
    step,
    twilio_route,
)


def _pacer():  # type: ignore[no-untyped-def]
    from clientela.channels import ChannelLimits, Pacer

    clock = NoSleep()
    return Pacer(ChannelLimits(per_second=1_000.0), clock=clock.clock, sleep=clock.sleep)


def mandrill_config(fake: mandrill_fake.FakeMandrill, url: str | None = None) -> MandrillConfig:
    return MandrillConfig(api_key=mandrill_fake.API_KEY, from_email="loja@example.com",
                          webhook_key=mandrill_fake.WEBHOOK_KEY, webhook_url=url,
                          base_url=fake.url)


def test_mandrill_reject_reasons_lookup_and_signed_webhooks(tmp_path: Path, mandrill) -> None:
    path = build_store(tmp_path / "s.duckdb", people(4))
    mandrill.unsubscribed.add("c0001@example.com")
    mandrill.bounced.add("c0002@example.com")
    messaging = config(send={"email": "mandrill_mail"})
    with Store(path) as store:
        plan(store, step("email"), candidates(f"c{i:04d}" for i in range(4)), messaging)
        route = Route("mandrill_mail", "email", MandrillSender(mandrill_config(mandrill)),
                      _pacer())
        # c0003's call reached Mandrill but the process died before recording it
        row = next(r for r in ledger.due(store.con, NOON) if r.customer_id == "c0003")
        ledger.mark_calling(store.con, [row.message_key], NOON)
        assert route.sender.send(to_outgoing(row)).outcome == "sent"
        report = dispatcher(store, [route], messaging).run()
        assert (report.settled_sent, report.sent, report.opted_out, report.failed) == (1, 1, 1, 1)
        got = statuses(store)
        assert got["c0001"] == ("failed", "opted_out")
        assert got["c0002"][0] == "failed" and "hard-bounce" in str(got["c0002"][1])
        assert consents(store, "c0001") == ALL_OUT
    assert sorted(m.to for m in mandrill.accepted) == ["c0000@example.com", "c0003@example.com"]
    channels = {"mandrill_mail": (MANDRILL, None)}
    with receiver(path, channels) as base:
        url = f"{base}/channels/mandrill_mail"
        channels["mandrill_mail"] = (MANDRILL, mandrill_config(mandrill, url))
        forms = mandrill.events(url)
        assert post(url, forms[0], mandrill.sign(url, forms[0], "wrong")).status_code == 401
        for form in forms + forms:
            assert post(url, form, mandrill.sign(url, form)).status_code == 200
    with Store(path) as store:
        got = statuses(store)
        assert (got["c0000"], got["c0003"]) == (("read", None), ("read", None))


def zenvia_config(fake: zenvia_fake.FakeZenvia) -> ZenviaConfig:
    return ZenviaConfig(api_token=zenvia_fake.TOKEN, sender=zenvia_fake.SENDER,
                        webhook_token="hook-secret", base_url=fake.url)


def test_zenvia_sms_statuses_and_a_sair_reply(tmp_path: Path, zenvia) -> None:
    found: dict[str, object] = {}
    zenvia_channels(lambda channel: found.setdefault(channel.name, channel))
    sms = found["zenvia_sms"]
    path = build_store(tmp_path / "s.duckdb", [person("a", phone="+5511911112222"),
                                               person("b", phone="+5511933334444")])
    messaging = config(send={"sms": "zenvia_sms"})
    with Store(path) as store:
        plan(store, step("sms"), candidates(["a", "b"]), messaging)
        route = Route("zenvia_sms", "sms", ZenviaSender(zenvia_config(zenvia), "sms"), _pacer())
        assert dispatcher(store, [route], messaging).run().sent == 2
    assert sorted(m.to for m in zenvia.accepted) == ["5511911112222", "5511933334444"]
    by_to = {m.to: m for m in zenvia.accepted}
    with receiver(path, {"zenvia_sms": (sms, zenvia_config(zenvia))}) as base:
        url = f"{base}/channels/zenvia_sms"
        good = {"X-Clientela-Token": "hook-secret", "Content-Type": "application/json"}
        delivered = zenvia.status(by_to["5511911112222"], "DELIVERED", "ev1")
        assert post(url, delivered, {"X-Clientela-Token": "guess"}).status_code == 401
        assert post(url, delivered, good).status_code == 200
        assert post(url, zenvia.status(by_to["5511933334444"], "NOT_DELIVERED", "ev2"),
                    good).status_code == 200
        # a SENT arriving after DELIVERED changes nothing
        assert post(url, zenvia.status(by_to["5511911112222"], "SENT", "ev3"),
                    good).status_code == 200
        reply = zenvia.reply("5511911112222", "SAIR")
        assert json.loads(post(url, reply, good).text)["accepted"] == 1
    with Store(path) as store:
        got = statuses(store)
        assert got["a"] == ("delivered", None)
        assert got["b"][0] == "failed" and "NOT_DELIVERED" in str(got["b"][1])
        assert consents(store, "a") == ALL_OUT


def test_twilio_whatsapp_sends_content_templates(tmp_path: Path, twilio) -> None:
    path = build_store(tmp_path / "s.duckdb", [person("a", phone="+5511911112222")])
    messaging = config(send={"whatsapp": "twilio_whatsapp"})
    template = WA_TEMPLATE.model_copy(update={"template": "HX0123456789abcdef"})
    with Store(path) as store:
        plan(store, step("whatsapp", templates={"whatsapp": template}), candidates(["a"]),
             messaging)
        route = twilio_route(twilio, whatsapp=True)
        assert dispatcher(store, [route], messaging).run().sent == 1
    message = twilio.accepted[0]
    assert (message.to, message.template, message.body) == (
        "whatsapp:+5511911112222", "HX0123456789abcdef", None)
