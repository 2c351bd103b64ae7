"""Shared by the channel and journey tests: a small store of people, channels on fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from clientela_channel_meta import CHANNEL as META
from clientela_channel_meta.channel import MetaConfig, MetaSender
from clientela_channel_sendgrid import CHANNEL as SENDGRID
from clientela_channel_sendgrid.channel import SendGridMailConfig, SendGridMailSender
from clientela_channel_twilio.channel import TwilioConfig, TwilioSender
from starlette.applications import Starlette
from starlette.routing import Mount
from webhooks.helpers import live

from clientela.channels import ChannelLimits, Pacer
from clientela.journeys.dispatch import Dispatcher, Route
from clientela.journeys.ledger import Planned
from clientela.journeys.planner import Candidate, Planner, Step
from clientela.journeys.settings import MessagingConfig
from clientela.journeys.templates import ChannelTemplate
from clientela.journeys.webhooks import ChannelWebhooks
from clientela.model.entities import Customer
from clientela.store import Store

from .fakes import meta as meta_fake
from .fakes import sendgrid as sendgrid_fake
from .fakes import twilio as twilio_fake

NOON = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


class NoSleep:
    """A clock that advances only when asked to sleep: pacing is counted, never waited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def person(customer_id: str, *, phone: str | None = "+5511987650000", email: str | None = None,
           consent: str = "subscribed", first_name: str = "Ana",
           attributes: Mapping[str, Any] | None = None, **fields: Any) -> Customer:
    return Customer(customer_id=customer_id, source="test", phone=phone,
                    email=email or f"{customer_id}@example.com", first_name=first_name,
                    consent_sms=consent, consent_whatsapp=consent, consent_email=consent,
                    attributes=dict(attributes or {}), **fields)


def people(n: int, *, consent: str = "subscribed") -> list[Customer]:
    return [person(f"c{i:04d}", phone=f"+55119{i:08d}", consent=consent) for i in range(n)]


def build_store(path: Path | str, customers: Sequence[Customer]) -> Path | str:
    with Store(path) as store:
        store.upsert(list(customers))
        opt_in_relationship(store, customers)
    return path


def opt_in_relationship(store: Store, customers: Sequence[Customer]) -> None:
    """The customer columns carry marketing consent only; relationship messages (post-sale,
    loyalty notices) need their own opt-in, given here for everyone subscribed."""
    from clientela.consent import ConsentEvent, record

    at = datetime(2020, 1, 1, tzinfo=UTC)
    record(store, [ConsentEvent(customer_id=c.customer_id, channel=m, purpose="relationship",
                                status="opted_in", address=c.email if m == "email" else c.phone,
                                occurred_at=at, source="test", evidence="signed up")
                   for c in customers for m in ("email", "sms", "whatsapp")
                   if getattr(c, f"consent_{m}") == "subscribed"
                   and (c.email if m == "email" else c.phone)])


def twilio_route(fake: twilio_fake.FakeTwilio, *, callback: str | None = None,
                 whatsapp: bool = False, pacer: Pacer | None = None) -> Route:
    config = TwilioConfig(account_sid=fake.sid, auth_token=fake.token,
                          from_number="+5511999990000", base_url=fake.origin,
                          status_callback=callback)
    name = "twilio_whatsapp" if whatsapp else "twilio_sms"
    sleeper = NoSleep()
    return Route(name, "whatsapp" if whatsapp else "sms", TwilioSender(config, whatsapp=whatsapp),
                 pacer or Pacer(ChannelLimits(per_second=1_000.0),
                                clock=sleeper.clock, sleep=sleeper.sleep))


def twilio_config(fake: twilio_fake.FakeTwilio, callback: str | None = None) -> TwilioConfig:
    return TwilioConfig(account_sid=fake.sid, auth_token=fake.token, from_number="+5511999990000",
                        base_url=fake.origin, status_callback=callback)


def meta_config(fake: meta_fake.FakeMeta) -> MetaConfig:
    return MetaConfig(phone_number_id=meta_fake.PHONE_ID, access_token=meta_fake.TOKEN,
                      app_secret=meta_fake.APP_SECRET, verify_token=meta_fake.VERIFY_TOKEN,
                      base_url=fake.origin)


def meta_route(fake: meta_fake.FakeMeta) -> Route:
    sleeper = NoSleep()
    return Route("meta_whatsapp", "whatsapp", MetaSender(meta_config(fake)),
                 Pacer(META.limits, clock=sleeper.clock, sleep=sleeper.sleep))


def sendgrid_config(fake: sendgrid_fake.FakeSendGridMail) -> SendGridMailConfig:
    return SendGridMailConfig(api_key=sendgrid_fake.API_KEY, from_email="loja@example.com",
                              webhook_public_key=fake.public_key, base_url=fake.origin)


def sendgrid_route(fake: sendgrid_fake.FakeSendGridMail) -> Route:
    sleeper = NoSleep()
    return Route("sendgrid_mail", "email", SendGridMailSender(sendgrid_config(fake)),
                 Pacer(SENDGRID.limits, clock=sleeper.clock, sleep=sleeper.sleep))


SMS_TEXT = ChannelTemplate(text={"pt_BR": "Oi {first_name}, {points} pontos na {store}!"})
WA_TEMPLATE = ChannelTemplate(template="pontos_boas_vindas", variables=["first_name", "points"])
EMAIL_TEXT = ChannelTemplate(text={"pt_BR": "Oi {first_name}, {points} pontos."},
                             subject={"pt_BR": "Seus pontos"})


def step(*media: str, purpose: str = "marketing", origin: str = "teste",
         templates: Mapping[str, ChannelTemplate] | None = None,
         kind: str = "campaign") -> Step:
    chosen = templates or {"sms": SMS_TEXT, "whatsapp": WA_TEMPLATE, "email": EMAIL_TEXT}
    return Step(kind, origin, "s1", purpose, tuple(media), chosen)


def config(**overrides: Any) -> MessagingConfig:
    data: dict[str, Any] = {"send": {"sms": "twilio_sms", "whatsapp": "meta_whatsapp",
                                     "email": "sendgrid_mail"}, "store_name": "Loja"}
    data.update(overrides)
    return MessagingConfig.model_validate(data)


def candidates(ids: Iterable[str], *, due: datetime = NOON, occurrence: str = "2026-12",
               **variables: Any) -> list[Candidate]:
    return [Candidate(c, occurrence, due, {"points": 120, **variables}) for c in ids]


def plan(store: Store, the_step: Step, cands: Sequence[Candidate],
         messaging: MessagingConfig | None = None, now: datetime = NOON) -> list[Planned]:
    from clientela.journeys import ledger

    planner = Planner(store, messaging or config(), SAO_PAULO, now)
    planned = planner.plan(the_step, cands)
    ledger.plan(store.con, planned, now=now)
    return planned


def dispatcher(store: Store, routes: Sequence[Route], messaging: MessagingConfig | None = None,
               now: datetime = NOON) -> Dispatcher:
    return Dispatcher(store, messaging or config(), {r.name: r for r in routes}, SAO_PAULO,
                      clock=lambda: now)


def statuses(store: Store) -> dict[str, tuple[str, str | None]]:
    """customer_id -> (status, reason) of their messages (one each in these tests)."""
    rows = store.con.execute("SELECT customer_id, status, reason FROM messages").fetchall()
    return {str(c): (str(s), r) for c, s, r in rows}


def consents(store: Store, customer_id: str) -> dict[str, str]:
    """'<medium>/<purpose>' -> current status in the consent ledger."""
    from clientela.consent import current_sql

    rows = store.con.execute(f"SELECT channel, purpose, status FROM ({current_sql()}) "
                             "WHERE customer_id = ?", [customer_id]).fetchall()
    return {f"{c}/{p}": str(s) for c, p, s in rows}


ALL_OUT = {f"{m}/{p}": "opted_out" for m in ("email", "sms", "whatsapp")
           for p in ("marketing", "relationship")}


@contextmanager
def receiver(path: Path | str, channels: dict[str, Any]) -> Iterator[str]:
    hooks = ChannelWebhooks(path, channels)
    app = Starlette(routes=[Mount("/channels", app=hooks.app())])
    with live(app) as url:
        yield url


def post(url: str, body: bytes | dict[str, str], headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)
