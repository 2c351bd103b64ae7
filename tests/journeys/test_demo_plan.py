"""A month of journeys planned on a generated demo store: every decision explained."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from channels.helpers import config

from clientela.demo import generate, load
from clientela.journeys.consent import consent_states
from clientela.journeys.planner import REASONS
from clientela.journeys.runner import JourneyRunner
from clientela.journeys.spec import parse_journeys
from clientela.store import Store

TRIGGERS = ("first_order", "first_points", "monthly_redeemable", "points_expiring", "birthday",
            "lapsed", "post_purchase")


def test_month_plan_on_the_demo_store(tmp_path: Path) -> None:
    items = [{"name": t, "trigger": t, "purpose": "marketing",
              "channels": ["whatsapp", "sms", "email"], "steps": [{
                  "name": "s", "whatsapp": {"template": "campanha", "variables": ["first_name"]},
                  "sms": {"text": {"pt_BR": "{first_name}"}},
                  "email": {"text": {"pt_BR": "oi"}, "subject": {"pt_BR": "oi"}}}]}
             for t in TRIGGERS]
    with Store(tmp_path / "demo.duckdb") as store:
        load(store, generate(customers=400, orders=2_000, seed=3))
        last = store.con.execute("SELECT max(placed_at) FROM orders").fetchone()[0]
        now = last.replace(tzinfo=UTC) - timedelta(days=40)
        runner = JourneyRunner(store, config(), parse_journeys(items, "t"),
                               ZoneInfo("America/Sao_Paulo"), "BRL", 500, now)
        report = runner.run_plan(horizon=timedelta(days=30), dry_run=True)
        planned = report.planned
        assert store.count("messages") == 0  # a dry run writes nothing
        subscribed = {m: {c for c, s in consent_states(store, m, "marketing").items()
                          if s == "subscribed"} for m in ("whatsapp", "sms", "email")}
    assert {p.origin for p in planned} >= {"post_purchase", "monthly_redeemable", "birthday"}
    assert len({p.message_key for p in planned}) == len(planned)
    for p in planned:
        if p.status == "planned":
            assert p.customer_id in subscribed[str(p.medium)] and p.address
            assert now - timedelta(days=7) <= p.due_at <= now + timedelta(days=31)
        else:
            assert p.status == "suppressed" and p.reason in REASONS
    assert sum(report.reasons().values()) == sum(p.status == "suppressed" for p in planned)
    assert {"no_consent", "opted_out"} <= set(report.reasons())
