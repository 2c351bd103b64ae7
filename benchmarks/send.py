"""Send a campaign through each provider's fake, plan a month of journeys, kill and re-run.

Run: python benchmarks/send.py [--recipients 100000] [--only twilio] [--demo-customers 100000]

For each fake (Twilio SMS, Meta WhatsApp, SendGrid Mail) it prints, side by side:

* the baseline: the provider calls alone (the sender called in a loop, no ledger, no pacing),
  messages per second;
* clientela: planning the campaign into the ledger, then dispatching it (re-checks, marking
  `calling`, the same calls, recording, touches), with the pacing clock simulated so the
  run measures local work, not waiting: messages per second, the paced rate against the
  provider's ceiling, and clientela's own work per message (wall time minus time inside
  the provider calls), with the ratio to the baseline;
* a kill-and-rerun: a child process dispatching the campaign is SIGKILLed mid-way, one
  re-run follows, and the fake counts the messages it received twice (must be 0) and the
  messages never sent (must be 0).

Then a month of the documented journeys is planned (a dry run) on a demo store, timed, and
the peak memory of the process is reported. The demo store comes from benchmarks/kpis.py's
cache (copied, never modified). Targets: under 1 ms of local work per message, the month's
planning in 10 s at 1M customers, 0 duplicates.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes live with the tests
sys.path.insert(0, str(ROOT / "benchmarks"))

AT = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
SAO_PAULO = "America/Sao_Paulo"
KILL_RECIPIENTS = 2_000
KILL_AFTER = 700


@dataclass(frozen=True)
class Fake:
    name: str
    channel: str
    medium: str
    start: Callable[[], Any]
    route: Callable[[Any], Any]
    """fake -> a Route with the channel's own limits and a simulated clock."""


def fakes() -> list[Fake]:
    from channels.fakes.meta import FakeMeta
    from channels.fakes.sendgrid import FakeSendGridMail
    from channels.fakes.twilio import FakeTwilio
    from channels.helpers import meta_config, sendgrid_config, twilio_config
    from clientela_channel_meta import CHANNEL as META
    from clientela_channel_meta.channel import MetaSender
    from clientela_channel_sendgrid import CHANNEL as SENDGRID
    from clientela_channel_sendgrid.channel import SendGridMailSender
    from clientela_channel_twilio.channel import TwilioSender

    from clientela.channels import ChannelLimits

    def route(name: str, medium: str, sender: Any, limits: Any) -> Any:
        from channels.helpers import NoSleep

        from clientela.channels import Pacer
        from clientela.journeys.dispatch import Route

        clock = NoSleep()
        return Route(name, medium, sender, Pacer(limits, clock=clock.clock, sleep=clock.sleep))

    return [
        Fake("twilio", "twilio_sms", "sms", lambda: FakeTwilio(per_second=1e9).start(),
             lambda f: route("twilio_sms", "sms", TwilioSender(twilio_config(f)),
                             ChannelLimits(per_second=100.0))),  # a short code or service
        Fake("meta", "meta_whatsapp", "whatsapp", lambda: FakeMeta(per_second=1e9).start(),
             lambda f: route("meta_whatsapp", "whatsapp", MetaSender(meta_config(f)),
                             META.limits)),
        Fake("sendgrid", "sendgrid_mail", "email", lambda: FakeSendGridMail().start(),
             lambda f: route("sendgrid_mail", "email", SendGridMailSender(sendgrid_config(f)),
                             SENDGRID.limits)),
    ]


def templates(campaign: str) -> dict[str, Any]:
    from clientela.journeys.templates import ChannelTemplate

    text = f"{{first_name}}: 20% off hoje na {{store}} ({campaign})"
    return {"sms": ChannelTemplate(text={"pt_BR": text}),
            "whatsapp": ChannelTemplate(template="campanha", variables=["first_name"]),
            "email": ChannelTemplate(text={"pt_BR": text}, subject={"pt_BR": "Oferta"})}


def build_people(path: Path, n: int) -> None:
    from clientela.model.entities import Customer
    from clientela.store import Store

    with Store(path) as store:
        batch = 20_000
        for start in range(0, n, batch):
            store.upsert([Customer(customer_id=f"c{i:07d}", source="bench", first_name="Ana",
                                   phone=f"+5511{i:09d}", email=f"c{i}@example.com",
                                   consent_sms="subscribed", consent_whatsapp="subscribed",
                                   consent_email="subscribed")
                          for i in range(start, min(n, start + batch))])
        store.con.execute("CHECKPOINT")


def messaging(fake: Fake) -> Any:
    from clientela.journeys.settings import MessagingConfig

    return MessagingConfig(send={fake.medium: fake.channel}, store_name="Loja",
                           frequency_cap_hours=0)


def plan(store: Any, fake: Fake, name: str, ids: list[str]) -> int:
    from zoneinfo import ZoneInfo

    from clientela.journeys.campaigns import CampaignSpec, plan_campaign
    from clientela.journeys.planner import Planner

    spec = CampaignSpec(name, (fake.medium,), {fake.medium: templates(name)[fake.medium]}, AT)
    planner = Planner(store, messaging(fake), ZoneInfo(SAO_PAULO), AT)
    _, written = plan_campaign(store, spec, ids, messaging(fake), planner)
    return written


class Timed:
    """Wraps a sender to total the time spent inside the provider calls."""

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.inside = 0.0

    def send(self, message: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.sender.send(message)
        finally:
            self.inside += time.perf_counter() - started

    def lookup(self, message: Any) -> Any:
        return self.sender.lookup(message)

    def close(self) -> None:
        self.sender.close()


def baseline(fake: Fake, server: Any, n: int) -> float:
    """Seconds for n provider calls alone."""
    from clientela.channels import OutgoingMessage

    sender = fake.route(server).sender
    started = time.perf_counter()
    for i in range(n):
        message = OutgoingMessage(key=f"base{i}", to=f"c{i}@example.com" if fake.medium ==
                                  "email" else f"+5511{i:09d}", text="Ana: 20% off hoje",
                                  subject="Oferta", template="campanha" if fake.medium ==
                                  "whatsapp" else None, variables={"first_name": "Ana"})
        result = sender.send(message)
        assert result.outcome == "sent", result
    return time.perf_counter() - started


def run_campaign(fake: Fake, server: Any, path: Path, n: int) -> dict[str, float]:
    from zoneinfo import ZoneInfo

    from clientela.journeys.dispatch import Dispatcher
    from clientela.journeys.touches import sync_touches
    from clientela.store import Store

    ids = [f"c{i:07d}" for i in range(n)]
    with Store(path) as store:
        started = time.perf_counter()
        written = plan(store, fake, f"bench_{fake.name}", ids)
        planning = time.perf_counter() - started
        route = fake.route(server)
        timed = Timed(route.sender)
        route.sender = timed
        started = time.perf_counter()
        report = Dispatcher(store, messaging(fake), {route.name: route}, ZoneInfo(SAO_PAULO),
                            clock=lambda: AT).run()
        sync_touches(store)
        sending = time.perf_counter() - started
    assert written == n and report.sent == n, (written, report)
    simulated = route.pacer.clock() if hasattr(route.pacer, "clock") else 0.0
    return {"planning": planning, "sending": sending, "inside": timed.inside,
            "paced_rate": n / simulated if simulated else float("inf")}


def child(argv: list[str]) -> None:
    """The process that is killed: dispatch a planned campaign, die after KILL_AFTER sends."""
    from zoneinfo import ZoneInfo

    from clientela.journeys.dispatch import Dispatcher
    from clientela.store import Store

    name, origin, path = argv
    fake = next(f for f in fakes() if f.name == name)
    server = _Remote(origin)
    route = fake.route(server)
    real, count = route.sender.send, {"n": 0}

    def send(message: Any) -> Any:
        result = real(message)
        count["n"] += 1
        if count["n"] == KILL_AFTER:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    route.sender.send = send
    with Store(Path(path)) as store:
        Dispatcher(store, messaging(fake), {route.name: route}, ZoneInfo(SAO_PAULO),
                   clock=lambda: AT).run()


class _Remote:
    """What the routes need of a fake that runs in another process: its address."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.sid = "AC0123456789abcdef0123456789abcdef"
        self.token = "twilio-auth-token-0123456789"
        self.public_key = None


def kill_and_rerun(fake: Fake, server: Any, path: Path) -> tuple[int, int]:
    """(duplicates at the provider, messages never sent) after a SIGKILL and one re-run."""
    from zoneinfo import ZoneInfo

    from clientela.journeys.dispatch import Dispatcher
    from clientela.store import Store

    ids = [f"c{i:07d}" for i in range(KILL_RECIPIENTS)]
    name = f"kill_{fake.name}"
    with Store(path) as store:
        plan(store, fake, name, ids)
    before = len(server.accepted)
    done = subprocess.run([sys.executable, __file__, "--child", fake.name, server.origin,
                           str(path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with Store(path) as store:
        route = fake.route(server)
        Dispatcher(store, messaging(fake), {route.name: route}, ZoneInfo(SAO_PAULO),
                   clock=lambda: AT).run()
        if fake.name == "meta":  # no lookup API: the `sent` status webhooks settle the rest
            settle_by_webhook(store, server, before)
        unsent = store.con.execute("SELECT count(*) FROM messages WHERE origin = ? AND status "
                                   "<> 'sent'", [name]).fetchone()
    received = [m.to for m in server.accepted[before:]]  # one message per recipient
    return len(received) - len(set(received)), int(unsent[0]) if unsent else -1


def settle_by_webhook(store: Any, server: Any, before: int) -> None:
    from clientela_channel_meta import CHANNEL as META

    from clientela.channels import ChannelEvent
    from clientela.journeys.webhooks import apply

    events = [ChannelEvent("status", f"{m.id}:sent", AT, provider_id=m.id, key=m.key,
                           status="sent") for m in server.accepted[before:]]
    apply(store, META, events)


def journeys_month(store_path: Path) -> tuple[float, int, dict[str, int]]:
    """A dry run of the documented journeys over a month of the demo store."""
    from zoneinfo import ZoneInfo

    from clientela.journeys.runner import JourneyRunner
    from clientela.journeys.settings import MessagingConfig
    from clientela.journeys.spec import parse_journeys
    from clientela.store import Store

    items = []
    for name, trigger, extra in (
            ("boas_vindas", "first_points", {}), ("lembrete", "monthly_redeemable",
                                                  {"day_of_month": 5, "minimum_purchase": 100}),
            ("expira", "points_expiring", {}), ("aniversario", "birthday", {}),
            ("reconquista", "lapsed", {"days": 120}), ("pos_venda", "post_purchase", {}),
            ("primeira", "first_order", {})):
        items.append({"name": name, "trigger": trigger, "channels": ["whatsapp", "sms", "email"],
                      "purpose": "marketing", **extra, "steps": [{
                          "name": "s", "whatsapp": {"template": "campanha",
                                                    "variables": ["first_name"]},
                          "sms": {"text": {"pt_BR": "{first_name}, oi"}},
                          "email": {"text": {"pt_BR": "oi"}, "subject": {"pt_BR": "oi"}}}]})
    journeys = parse_journeys(items, "bench")
    config = MessagingConfig(send={"sms": "twilio_sms", "whatsapp": "meta_whatsapp",
                                   "email": "sendgrid_mail"})
    with Store(store_path) as store:
        last = store.con.execute("SELECT max(placed_at) FROM orders").fetchone()
        now = (last[0] if last and last[0] else datetime(2026, 1, 1)).replace(tzinfo=UTC)
        now = now - timedelta(days=31)
        runner = JourneyRunner(store, config, journeys, ZoneInfo(SAO_PAULO), "BRL", 500, now)
        started = time.perf_counter()
        report = runner.run_plan(horizon=timedelta(days=30), dry_run=True)
        seconds = time.perf_counter() - started
    return seconds, len(report.planned), dict(report.reasons())


def demo_copy(customers: int, workdir: Path) -> Path:
    from kpis import demo_store

    source = demo_store(customers * 10, customers)
    copy = workdir / "demo.duckdb"
    shutil.copyfile(source, copy)
    return copy


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        child(args[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--only", choices=["twilio", "meta", "sendgrid"], action="append")
    parser.add_argument("--demo-customers", type=int, default=100_000,
                        help="Customers of the demo store the month of journeys is planned on "
                             "(1,000,000 for the issue's figure; 0 skips it).")
    options = parser.parse_args(args)
    n = options.recipients
    workdir = Path(tempfile.mkdtemp(prefix="clientela-send-"))
    try:
        people = workdir / "people.duckdb"
        started = time.perf_counter()
        build_people(people, max(n, KILL_RECIPIENTS))
        print(f"store of {max(n, KILL_RECIPIENTS):,} recipients built in "
              f"{time.perf_counter() - started:.1f} s")
        print(f"{'provider':<10}{'baseline msg/s':>16}{'clientela msg/s':>17}{'ratio':>8}"
              f"{'local ms/msg':>14}{'plan ms/msg':>13}{'paced/ceiling':>16}{'dup':>5}"
              f"{'lost':>6}")
        for fake in fakes():
            if options.only and fake.name not in options.only:
                continue
            server = fake.start()
            try:
                base = baseline(fake, server, n)
                figures = run_campaign(fake, server, people, n)
                dup, lost = kill_and_rerun(fake, server, people)
            finally:
                server.stop()
            ceiling = fake.route(_Remote("http://x")).pacer.interval
            rate = figures["sending"]
            local = (figures["sending"] - figures["inside"]) / n * 1000
            print(f"{fake.name:<10}{n / base:>16,.0f}{n / rate:>17,.0f}{base / rate:>8.2f}"
                  f"{local:>14.3f}{figures['planning'] / n * 1000:>13.3f}"
                  f"{figures['paced_rate']:>8,.1f}/{1 / ceiling:,.0f}{dup:>5}{lost:>6}")
        if options.demo_customers:
            demo = demo_copy(options.demo_customers, workdir)
            seconds, planned, reasons = journeys_month(demo)
            print(f"a month of 7 journeys on the demo store ({options.demo_customers:,} "
                  f"customers): {planned:,} messages planned in {seconds:.2f} s; suppressed: "
                  + ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items())))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: {peak:,.0f} MiB")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
