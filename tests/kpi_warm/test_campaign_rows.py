"""A campaign row written (a campaign started) sends back to the engine only the kept answers
that read campaign rows (`clientela.kpi.warm`): a campaign carries no date, so before it
was logged as touching everything and the whole catalogue was recomputed the night any
campaign started."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from _warm_fixtures import DAY0, NEW_CAMPAIGN, SOURCE, SPAN, add_campaigns, build, touch

from clientela.kpi import compute, warm
from clientela.model import Campaign
from clientela.store import Store

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
READ_CAMPAIGNS = ["campaign_roi", "relationship_activity"]
"""ROI lists `campaigns` in `needs`; relationship activity reads them when present, for their
kind (`Metric.reads_if_present`)."""
UNREAD = ["revenue", "repeat_rate"]
METRICS = [*UNREAD, *READ_CAMPAIGNS]
PARAMS = {"relationship_activity": {"post_sale_only": False}}
JOURNEY_DAY = 600
"""DAY0 + 600 days is 2024-08-23 (a contact at 16:00 UTC, August in Sao Paulo too)."""


def run(store: Store, *, reuse: bool) -> object:
    return compute(store, METRICS, params=PARAMS, reuse=reuse, **SPAN)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The warm tests' small store, its campaigns, and one contact naming a campaign whose
    row is not written yet (a journey's first message synced before its campaign), every
    period of METRICS kept."""
    opened = build(tmp_path / "rows.duckdb")
    add_campaigns(opened)
    opened.upsert([touch("tj", 1, 3, JOURNEY_DAY)])
    run(opened, reuse=True)
    assert warm.last_report.computed == {m: MONTHS for m in METRICS}
    yield opened
    opened.close()


def test_a_new_campaign_row_recomputes_only_what_reads_campaigns(store: Store) -> None:
    before = run(store, reuse=False)
    assert before.value("relationship_activity", period="2024-08") == 0
    store.upsert([Campaign(source=SOURCE, campaign_id=NEW_CAMPAIGN, name=NEW_CAMPAIGN,
                           channel="email", kind="relationship",
                           started_at=DAY0 + timedelta(days=JOURNEY_DAY), cost=Decimal(40))])

    hot = run(store, reuse=True)

    assert warm.last_report.computed == {m: MONTHS for m in READ_CAMPAIGNS}
    assert warm.last_report.reused == {m: MONTHS for m in UNREAD}
    # the journey's one contact is now a relationship contact, of customer c1
    assert hot.value("relationship_activity", period="2024-08") == 1
    assert hot.value("relationship_activity", "customers", period="2024-08") == 1
    # started in August at a cost of 40; c1 orders on days 37, 259, 481 and 703, none
    # within the 7 days after the contact: revenue 0, ROI (0 - 40) / 40
    assert hot.value("campaign_roi", "cost", period="2024-08", item=NEW_CAMPAIGN) == 40
    assert hot.value("campaign_roi", "revenue", period="2024-08", item=NEW_CAMPAIGN) == 0
    assert hot.value("campaign_roi", period="2024-08", item=NEW_CAMPAIGN) == -1
    assert hot.rows() == run(store, reuse=False).rows()


def test_a_campaign_moved_and_recosted_still_reaches_its_roi(store: Store) -> None:
    """The first campaign (`spring`, started 2024-03-26 at a cost of 10) moved to May and
    given a cost of 90: March loses it, May gains it, through the campaign row alone."""
    spring = store.con.execute(
        "SELECT campaign_id FROM campaigns ORDER BY started_at LIMIT 1").fetchone()[0]
    store.upsert([Campaign(source=SOURCE, campaign_id=spring, name=spring, channel="email",
                           started_at=DAY0 + timedelta(days=500), cost=Decimal(90))])

    hot = run(store, reuse=True)

    assert warm.last_report.computed == {m: MONTHS for m in READ_CAMPAIGNS}
    assert hot.value("campaign_roi", "cost", period="2024-05", item=spring) == 90
    with pytest.raises(LookupError):
        hot.value("campaign_roi", "cost", period="2024-03", item=spring)
    assert hot.rows() == run(store, reuse=False).rows()
