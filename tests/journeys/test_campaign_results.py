"""A campaign's results read back through the campaign metrics: fake customers given a known
effect, the effect recovered inside campaign_lift's 95% interval."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from channels.helpers import SAO_PAULO, SMS_TEXT, config

from clientela.channels import ChannelLimits, OutgoingMessage, Pacer, SendResult
from clientela.journeys.campaigns import CampaignSpec, plan_campaign
from clientela.journeys.dispatch import Dispatcher, Route
from clientela.journeys.keys import control_draw, in_control
from clientela.journeys.planner import Planner
from clientela.journeys.touches import sync_touches
from clientela.kpi import compute
from clientela.store import Store

from .helpers import customer, order, write

N = 3_000
SHARE = 0.2
P_CONTACTED, P_CONTROL = 0.25, 0.10
AT = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 11:00 in São Paulo


class Accepting:
    """An in-process provider that accepts everything (the HTTP path has its own tests)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def send(self, message: OutgoingMessage) -> SendResult:
        self.keys.append(message.key)
        return SendResult("sent", provider_id=f"p{len(self.keys)}")

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        return None

    def close(self) -> None:
        return None


def test_control_draw_is_deterministic_and_uniform() -> None:
    assert control_draw("promo", "c1") == control_draw("promo", "c1")
    assert control_draw("promo", "c1") != control_draw("other", "c1")
    held = sum(in_control("promo", f"c{i}", 0.1) for i in range(20_000))
    assert 1_850 < held < 2_150  # 10% of 20,000, within 3.5 standard deviations


def test_campaign_lift_recovers_the_known_effect(clientela_store_target: str, tmp_path: Path) -> None:
    people = [customer(f"c{i:05d}", phone=f"+5511{i:09d}") for i in range(N)]
    path = write(clientela_store_target, people)
    spec = CampaignSpec("promo", ("sms",), {"sms": SMS_TEXT}, AT, control_share=SHARE,
                        cost=Decimal("300.00"))
    provider = Accepting()
    with Store(path) as store:
        planner = Planner(store, config(), SAO_PAULO, AT)
        planned, written = plan_campaign(store, spec, [p.customer_id for p in people], config(),
                                         planner)
        route = Route("twilio_sms", "sms", provider, Pacer(ChannelLimits(per_second=1e9)))
        report = Dispatcher(store, config(), {"twilio_sms": route}, SAO_PAULO,
                            clock=lambda: AT).run()
        sync_touches(store)
        control = {p.customer_id for p in planned if p.reason == "control_group"}
        contacted = {p.customer_id for p in planned} - control
        assert written == N and report.sent == len(contacted) == len(provider.keys)
        # what the customers then did: known conversion rates, 100.00 per order, 2 days later
        rng = random.Random(7)
        orders = [order(f"o{cid}", cid, AT + timedelta(days=2), "100.00")
                  for cid in sorted(contacted | control)
                  if rng.random() < (P_CONTROL if cid in control else P_CONTACTED)]
        store.upsert(orders)
        result = compute(store, ["campaign_lift", "campaign_reach", "campaign_revenue",
                                 "campaign_roi"], start="2026-03-01", end="2026-04-01",
                         timezone="America/Sao_Paulo")
    rows = {(r["metric"], r["measure"]): r["value"] for r in result.rows()
            if r["item"] == "promo"}
    assert rows[("campaign_reach", "value")] == len(contacted)
    assert rows[("campaign_lift", "contacted")] == len(contacted)
    assert rows[("campaign_lift", "control")] == len(control)
    assert abs(len(control) / N - SHARE) < 0.03
    low, high = rows[("campaign_lift", "conversion_low")], rows[("campaign_lift", "conversion_high")]
    assert low < P_CONTACTED - P_CONTROL < high
    assert low > 0  # the effect is detected, not merely compatible
    rev_low = rows[("campaign_lift", "revenue_low")]
    rev_high = rows[("campaign_lift", "revenue_high")]
    assert rev_low < 100 * (P_CONTACTED - P_CONTROL) < rev_high
    # what the contacted customers spent is exactly their orders
    contacted_orders = sum(1 for o in orders if o.customer_id in contacted)
    assert float(rows[("campaign_revenue", "value")]) == 100.0 * contacted_orders
    assert float(rows[("campaign_roi", "value")]) == (100.0 * contacted_orders - 300) / 300
