"""The warm answer equals the cold one exactly, whatever was written in between.

Hypothesis draws edits (new orders, refunds and cancellations of old orders, orders moved
in time, campaign contacts added, moved to another customer, campaign or day, taken out of
every campaign or made control touches, campaigns moved to another start or given another
cost, a brand-new campaign row (marketing or relationship, which contacts may already
name), a write without a date of an entity no metric here reads, as a products table's
would be logged, a customer's acquisition channel changed, customers merged through the
identity graph, people erased by `forget`, loyalty events earned, redeemed, expired,
adjusted, reversed or moved in time, orders that redeemed by their own fields in the
reporting currency or another), applies them through the store's write paths between
warm runs, and compares every warm answer with a cold run on the same store, row for row
and bit for bit. The metrics are period-local ones and point-in-time ones (new customers,
repeat rate, recency, lapsed, retention, win-back, RFM segments, the days between
purchases and the return probability), the loyalty programme's (balances, points
expiring, redemptions, scored orders: the redemptions and scored orders in the newest month
read the orders their events name across the carried state's instant from the state,
`clientela.kpi.carried_redemptions`, `clientela.kpi.carried_earns`), campaign
conversion, revenue and lift, and campaign ROI (whose periods are the campaigns started
in them, and whose credits are kept per day and credited afresh for the days a write
reached, `clientela.kpi.campaign_credits`), sliced or not. Each
example starts from a copy of one store whose every period is already kept, applies one or
two rounds of edits with a warm run after each (so stale answers pile up as they would
night after night), and compares the last warm answer with a cold run. The warm runs read
and write the compiled SQL kept across processes (`clientela.kpi.sql_keep`, shared by the
examples, whose shared tables have other random names each time); the cold run opens the
store afresh with that keep off, so each of its queries is compiled anew.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from _warm_fixtures import (
    CAMPAIGNS,
    CHANNELS,
    CUSTOMERS,
    LOYALTY,
    METRICS,
    SPAN,
    Editor,
    add_campaigns,
    add_earns,
    add_loyalty,
    add_redemptions,
    build,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clientela.kpi import compute, sql_keep, warm
from clientela.store import Store

days = st.one_of(st.integers(min_value=0, max_value=729),
                 st.sampled_from([450, 451, 455, 456, 700, 702, 725, 728]))
"""Any day, and often one inside a campaign's attribution window (its day + 7)."""
customers = st.integers(min_value=0, max_value=CUSTOMERS - 1)
picks = st.integers(min_value=0, max_value=200)
edits = st.one_of(
    st.tuples(st.just("new"), st.one_of(st.none(), customers), days,
              st.integers(min_value=1, max_value=90_000)),
    st.tuples(st.just("refund"), picks, st.sampled_from([0.25, 0.5, 1.0])),
    st.tuples(st.just("cancel"), picks),
    st.tuples(st.just("move"), picks, days),
    st.tuples(st.just("touch"), st.integers(min_value=0, max_value=12), customers,
              st.integers(min_value=0, max_value=len(CAMPAIGNS)),
              st.sampled_from([0, 400, 449, 450, 452, 455, 456, 600, 699, 700, 703, 725, 729])),
    st.tuples(st.just("untouch"), st.integers(min_value=0, max_value=12),
              st.sampled_from(["uncampaign", "control"])),
    st.tuples(st.just("campaign"), st.integers(min_value=0, max_value=len(CAMPAIGNS) - 1),
              st.sampled_from([400, 450, 600, 700, 725]), st.integers(min_value=0, max_value=500)),
    st.tuples(st.just("new_campaign"), st.sampled_from([400, 450, 600, 700, 725]),
              st.integers(min_value=0, max_value=500),
              st.sampled_from(["marketing", "relationship"])),
    st.tuples(st.just("unread")),
    st.tuples(st.just("channel"), customers, st.sampled_from(CHANNELS)),
    st.tuples(st.just("merge"), customers, customers),
    st.tuples(st.just("forget"), customers),
    st.tuples(st.just("redeemed"), customers, days, st.integers(min_value=1, max_value=400),
              st.sampled_from(["", "USD", "EUR"])),
    st.tuples(st.just("loyalty"),
              st.sampled_from(["earn", "redeem", "expire", "adjust", "reverse", "move"]),
              customers, days, st.integers(min_value=1, max_value=400), picks,
              st.sampled_from([None, 20, 200, 400])),
)


COMPARED = [*METRICS, "rfm_segments", "interpurchase_days", "return_probability",
            "campaign_conversion", "campaign_revenue", "campaign_lift", "relationship_activity",
            *LOYALTY]
"""With the two readers of the gaps between orders, which a warm call takes from the
carried state (`clientela.kpi.carried.previous_orders`, `gap_days`), the campaign
metrics that read the contacts of their period and the orders of the attribution window
after it (`depends_on="period"` with `reads_ahead`), relationship activity (which reads
the campaign rows, when there are any, for their kind: `Metric.reads_if_present`), and the
loyalty metrics, whose
balances and points expiring it takes from the carried ledger
(`clientela.kpi.carried_ledger`)."""
ROI = ["campaign_roi"]
"""Compared unsliced only: campaign ROI slices by its campaign's channel alone."""


def compared(by: str | None) -> list[str]:
    return COMPARED + ROI if by is None else COMPARED


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:
    """Per slice, a store with every period of COMPARED kept, built once."""
    found = {}
    for by in (None, "acquisition_channel"):
        path = tmp_path_factory.mktemp("warm") / f"template-{by}.duckdb"
        with build(path) as store:
            add_campaigns(store)
            add_loyalty(store)
            add_redemptions(store)
            add_earns(store)
            compute(store, compared(by), by=by, reuse=True, **SPAN)
        found[by] = path
    return found


@pytest.mark.slow
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.lists(edits, min_size=1, max_size=3), min_size=1, max_size=2),
       by=st.sampled_from([None, "acquisition_channel"]))
@example(  # a contact naming a campaign with no row yet, then its row: a relationship one
    rounds=[[("touch", 5, 2, len(CAMPAIGNS), 600)],
            [("new_campaign", 450, 40, "relationship"), ("new", 2, 600, 5000)]],
    by="acquisition_channel")
@example(  # an earn of November on s2, an order of December (pick 29: s2 among the orders by
    # id), then g1, November's earn on s1, moved into December: each changes the orders
    # the state keeps as scored across its instant (`clientela.kpi.carried_earns`)
    rounds=[[("loyalty", "earn", 3, 690, 10, 29, None)],
            [("loyalty", "move", 0, 720, 1, 25, None), ("new", 1, 721, 900)]],
    by=None)
def test_warm_equals_cold_after_random_edits(template, rounds, by) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warm.duckdb"
        shutil.copy(template[by], path)
        with Store(path) as store:
            editor = Editor(store)
            for batch in rounds:
                for edit in batch:
                    editor.apply(edit)
                hot = compute(store, compared(by), by=by, reuse=True, **SPAN)
                assert warm.last_report.cold is None
        assert os.environ.get(sql_keep.ENV) not in (None, "off")
        with mock.patch.dict(os.environ, {sql_keep.ENV: "off"}), Store(path) as store:
            cold = compute(store, compared(by), by=by, **SPAN)
    assert hot.table.schema == cold.table.schema
    assert hot.rows() == cold.rows()
