"""Customers, pipeline, NPS, spend and traffic look like a store and carry their truths."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from clientela.demo import DemoData

EXAMPLE_DOMAINS = ("@example.com", "@example.com.br", "@example.net", "@example.org")


def test_customers(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    c = frames["customers"]
    assert len(c) == demo.truth.customers
    emails = c.email.dropna()
    assert emails.is_unique and 0.85 < len(emails) / len(c) < 0.99
    assert emails.map(lambda e: e.endswith(EXAMPLE_DOMAINS)).all()
    assert c.phone.dropna().str.match(r"^\+\d{10,14}$").all()
    for channel in ("email", "sms", "whatsapp"):
        assert {"subscribed", "unsubscribed", "unknown"} <= set(c[f"consent_{channel}"])
    assert set(c.acquisition_channel) == {
        "organic", "paid_search", "social", "referral", "store", "marketplace"}
    assert set(c.home_store_id.dropna()) == {"sp-paulista", "rj-ipanema", "bh-savassi"}
    assert c.home_store_id.isna().any()
    tags = {tag for row in c.tags for tag in row}
    assert {"fidelidade", "newsletter", "vip", "internacional"} <= tags
    assert (c.country == "BR").mean() > 0.95
    births = pd.to_datetime(c.birth_date.dropna())
    assert births.min().year >= 1935 and births.max().year <= 2008
    assert c.customer_id.is_monotonic_increasing and c.created_at.is_monotonic_increasing is False


def test_customers_and_orders_line_up(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    c = frames["customers"].set_index("customer_id")
    o = frames["orders"]
    assert o.customer_id.isin(c.index).all()
    first = o.groupby("customer_id").placed_at.min()
    last = o.groupby("customer_id").placed_at.max()
    assert (c.created_at.loc[first.index] <= first).all()
    assert (c.updated_at.loc[last.index] >= last).all()
    assert o.customer_id.nunique() == demo.truth.buyers
    abroad = c.index[c.country != "BR"]
    assert (o.currency[o.customer_id.isin(abroad)] == "USD").all()


def test_opportunities(frames: dict[str, pd.DataFrame]) -> None:
    op = frames["opportunities"]
    assert set(op.status) == {"open", "won", "lost"}
    assert op.closed_at[op.status == "open"].isna().all()
    closed = op[op.status != "open"]
    assert (closed.closed_at >= closed.opened_at).all()
    assert set(op.channel) == {"whatsapp", "store", "online", "call"}
    assert (op.value > 0).all()


def test_nps(frames: dict[str, pd.DataFrame]) -> None:
    nps = frames["nps_responses"]
    assert nps.score.between(0, 10).all()
    promoters, detractors = (nps.score >= 9).mean(), (nps.score <= 6).mean()
    assert 0.2 < promoters - detractors < 0.6
    assert nps.comment.notna().any() and nps.comment.isna().any()


def test_spend_recovers_cac(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    spend = frames["marketing_spend"]
    assert not spend.duplicated(["day", "channel"]).any()
    assert (spend.amount >= 0).all()
    assert {"paid_search", "social", "referral", "email", "sms", "whatsapp"} == set(spend.channel)
    buyers = frames["orders"].customer_id.unique()
    customers = frames["customers"]
    new = customers[customers.customer_id.isin(buyers)].acquisition_channel.value_counts()
    for channel, cac in demo.truth.cac.items():
        realised = spend.amount[spend.channel == channel].sum() / new[channel]
        assert abs(realised / cac - 1) < Decimal("0.1"), channel


def test_traffic_recovers_conversion(demo: DemoData, frames: dict[str, pd.DataFrame]) -> None:
    traffic = frames["traffic"]
    assert not traffic.duplicated(["day", "channel"]).any()
    orders = frames["orders"]
    day = (orders.placed_at - pd.Timedelta(hours=3)).dt.date
    for channel, rate in demo.truth.conversion_rate.items():
        daily = orders[orders.channel == channel].groupby(day).size()
        sessions = traffic[traffic.channel == channel].set_index("day").sessions
        assert (sessions.loc[daily.index] >= daily).all()
        assert abs(daily.sum() / sessions.sum() / rate - 1) < 0.1
        assert (traffic.visitors <= traffic.sessions).all()
