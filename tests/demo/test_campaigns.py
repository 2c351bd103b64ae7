"""Campaigns reach only consenting customers, hold out controls, and have a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clientela.demo import DemoData, generate


def _campaign_touches(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    touches = frames["touches"]
    marketing = frames["campaigns"].query("kind == 'marketing'").campaign_id
    return touches[touches.campaign_id.isin(marketing)]


def test_control_groups(frames: dict[str, pd.DataFrame]) -> None:
    campaigns = frames["campaigns"].set_index("campaign_id")
    touches = _campaign_touches(frames)
    controls = touches.groupby("campaign_id").is_control.sum()
    shares = campaigns.control_share.loc[controls.index]
    assert (controls[shares > 0] > 0).all()
    assert (controls[shares == 0] == 0).all()
    assert (shares == 0).any() and (shares > 0).any()
    realised = touches.is_control.mean()
    expected = (touches.campaign_id.map(campaigns.control_share)).mean()
    assert abs(realised - expected) < 0.01
    assert set(campaigns.channel[campaigns.kind == "marketing"]) == {"email", "sms", "whatsapp"}


def test_only_subscribed_customers_are_selected(frames: dict[str, pd.DataFrame]) -> None:
    touches = _campaign_touches(frames).merge(frames["customers"], on="customer_id")
    consent = np.select(
        [touches.channel == "email", touches.channel == "sms"],
        [touches.consent_email, touches.consent_sms],
        touches.consent_whatsapp,
    )
    assert (consent == "subscribed").all()
    contact = np.where(touches.channel == "email", touches.email.notna(), touches.phone.notna())
    assert contact.all()


def test_relationship_touches(frames: dict[str, pd.DataFrame]) -> None:
    touches = frames["touches"]
    follow_ups = touches[touches.campaign_id == "rel-pos-venda"]
    assert len(follow_ups) > 100
    assert follow_ups.salesperson_id.notna().all()
    assert set(follow_ups.channel) == {"whatsapp", "call"}
    assert 0.7 < follow_ups.logged.mean() < 0.9
    assert not follow_ups.is_control.any()
    assert _campaign_touches(frames).salesperson_id.isna().all()


def test_truth_accounts_for_every_campaign_order(
    demo: DemoData, frames: dict[str, pd.DataFrame]
) -> None:
    truth = demo.truth
    marketing = frames["campaigns"].query("kind == 'marketing'")
    assert [c.campaign_id for c in truth.campaigns] == list(marketing.campaign_id)
    assert sum(c.incremental_orders for c in truth.campaigns) == truth.orders_by_origin["campaign"]
    assert truth.orders_by_origin["campaign"] > 0
    touches = _campaign_touches(frames)
    counts = touches.groupby(["campaign_id", "is_control"]).size().unstack(fill_value=0)
    for c in truth.campaigns:
        assert counts.loc[c.campaign_id, False] == c.contacted
        assert c.control == (counts.loc[c.campaign_id, True] if True in counts else 0)
        converted = round(c.conversion_lift * c.contacted)
        assert 0 <= converted <= c.incremental_orders
        assert c.uplift in {u * f for u in truth.campaign_uplift.values()
                            for f in (1.0, truth.seasonal_uplift_factor)}
    costs = marketing.set_index("campaign_id").cost
    spend = frames["marketing_spend"].dropna(subset=["campaign_id"]).set_index("campaign_id")
    assert (spend.amount.loc[costs.index] == costs).all()


def _stratified_lift(data: DemoData) -> tuple[float, float]:
    """Contacted-minus-control 7-day conversion per campaign, weighted by contacted."""
    touches = data["touches"].to_pandas()
    touches = touches[touches.campaign_id.str.startswith("cmp-")].sort_values("occurred_at")
    orders = data["orders"].to_pandas()
    valid = orders[~orders.status.isin(["cancelled", "refunded"])]
    valid = valid[["customer_id", "placed_at"]].sort_values("placed_at")
    matched = pd.merge_asof(
        touches, valid, left_on="occurred_at", right_on="placed_at", by="customer_id",
        direction="forward", allow_exact_matches=False,
    )
    window = pd.Timedelta(days=data.truth.attribution_days)
    matched["converted"] = (matched.placed_at - matched.occurred_at) <= window
    rates = matched.groupby(["campaign_id", "is_control"]).converted.mean().unstack().dropna()
    weight = matched[~matched.is_control].groupby("campaign_id").size().loc[rates.index]
    estimate = float(((rates[False] - rates[True]) * weight).sum() / weight.sum())
    truth = {c.campaign_id: c.conversion_lift for c in data.truth.campaigns}
    true_lift = float(sum(truth[i] * w for i, w in weight.items()) / weight.sum())
    return estimate, true_lift


@pytest.mark.slow
def test_randomised_lift_recovers_the_true_effect() -> None:
    data = generate(customers=20_000, orders=100_000, seed=42)
    estimate, true_lift = _stratified_lift(data)
    assert true_lift > 0.005
    # about 28k controls: the standard error is near 0.0015
    assert abs(estimate - true_lift) < 0.005
