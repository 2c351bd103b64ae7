"""Campaign ROI kept warm: a write recomputes the periods of the campaigns it reaches, and
only those (`depends_on="campaigns"`, clientela.kpi.warm).

A period's ROI answers for the campaigns started in it, with the revenue credited to every
contact of theirs, whenever made (last touch inside `attribution_days`, 7 by default). Each
test keeps every period of the series, writes through the store's write path, and checks
which periods the warm call recomputed, that the answer moved by the hand-computed amount
where it should, and that it equals a cold run row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from _warm_fixtures import SOURCE, SPAN, build

from clientela.kpi import compute, warm
from clientela.model import Campaign, Order, Touch
from clientela.store import Store
from clientela.store.touched import CAMPAIGNS_TOUCHED_TABLE

ROI = ["campaign_roi"]


def at(day: str, hour: int = 15) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def campaign(cid: str, day: str, cost: str) -> Campaign:
    return Campaign(source=SOURCE, campaign_id=cid, name=cid, channel="email",
                    started_at=at(day, 12), cost=Decimal(cost))


def touch(tid: str, customer: int, cid: str, day: str, hour: int = 15) -> Touch:
    return Touch(source=SOURCE, touch_id=tid, customer_id=f"c{customer}", campaign_id=cid,
                 channel="email", occurred_at=at(day, hour))


def order(oid: str, customer: int, day: str, amount: str, hour: int = 18) -> Order:
    total = Decimal(amount)
    return Order(source=SOURCE, order_id=oid, customer_id=f"c{customer}", status="paid",
                 placed_at=at(day, hour), subtotal=total, total=total, channel="online")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The warm tests' small store plus four one-day campaigns, every ROI period kept.

    Campaign `early` (September) has a contact dated in August, before its start, followed
    by an order: the cold series credits it (its contacts are read from the series' start)."""
    opened = roi_store(tmp_path / "roi.duckdb")
    compute(opened, ROI, reuse=True, **SPAN)
    yield opened
    opened.close()


def roi_store(path: Path) -> Store:
    """The store of the `store` fixture, nothing kept yet."""
    opened = build(path)
    opened.upsert([campaign("march", "2024-03-10", "10"), campaign("june", "2024-06-10", "20"),
                   campaign("nov", "2024-11-05", "5"), campaign("early", "2024-09-01", "8")])
    opened.upsert([touch("t1", 0, "march", "2024-03-10"), touch("t2", 1, "march", "2024-03-11"),
                   touch("t3", 0, "june", "2024-06-10"), touch("t4", 2, "june", "2024-06-12"),
                   touch("t5", 3, "nov", "2024-11-05"), touch("t6", 4, "early", "2024-08-20")])
    opened.upsert([order("r1", 4, "2024-08-22", "40.00")])
    return opened


def revenue(store: Store, item: str, **kw: object) -> dict[str, float]:
    """Per period, the revenue credited to campaign `item` (warm)."""
    rows = compute(store, ROI, reuse=True, **SPAN, **kw).rows()
    return {r["period"]: r["value"] for r in rows
            if r["item"] == item and r["measure"] == "revenue"}


def warm_equals_cold(store: Store) -> list[str]:
    """The periods the warm call recomputed, after checking its answer against a cold one."""
    hot = compute(store, ROI, reuse=True, **SPAN)
    assert warm.last_report.cold is None
    computed = warm.last_report.computed.get("campaign_roi", [])
    assert hot.rows() == compute(store, ROI, **SPAN).rows()
    return computed


def test_an_order_far_from_every_contact_reuses_every_period(store: Store) -> None:
    store.upsert([order("n1", 5, "2024-12-20", "99.00")])
    assert warm_equals_cold(store) == []
    assert len(warm.last_report.reused["campaign_roi"]) == 12


def test_an_order_in_a_contacts_window_recomputes_its_campaigns_period(store: Store) -> None:
    before = revenue(store, "march")["2024-03"]
    store.upsert([order("n1", 0, "2024-03-12", "50.00")])  # c0 was contacted on the 10th
    assert warm_equals_cold(store) == ["2024-03"]
    assert revenue(store, "march")["2024-03"] == before + 50.0


@pytest.mark.parametrize("credits", [True, False])
def test_a_refund_on_a_credited_order_recomputes_that_campaign_only(
        store: Store, credits: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "KEEP_CREDITS", credits)
    assert revenue(store, "early")["2024-09"] == 40.0
    store.upsert([order("r1", 4, "2024-08-22", "40.00").model_copy(
        update={"status": "refunded", "refunded_amount": Decimal("40.00")})])
    # the order's day is in the window of `early`'s August contact: September is reached;
    # without kept credits, recomputed from August on, where that contact was made
    assert warm_equals_cold(store) == (["2024-09"] if credits else ["2024-08", "2024-09"])
    assert revenue(store, "early")["2024-09"] == 0.0


def test_a_touch_moved_to_another_campaign_recomputes_both_periods(store: Store) -> None:
    store.upsert([order("n1", 1, "2024-03-12", "30.00")])  # credited to t2 (march)
    assert warm_equals_cold(store) == ["2024-03"]
    assert store.con.execute(f"SELECT count(*) FROM {CAMPAIGNS_TOUCHED_TABLE}").fetchone() == (0,)
    march, june = revenue(store, "march")["2024-03"], revenue(store, "june")["2024-06"]
    store.upsert([touch("t2", 1, "june", "2024-03-11")])  # same contact, now june's
    logged = store.con.execute(f"SELECT campaign_id FROM {CAMPAIGNS_TOUCHED_TABLE} "
                               "ORDER BY campaign_id").fetchall()
    assert logged == [("june",), ("march",)]
    # june's earliest contact is now in March: recomputed from there, as the cold series
    assert warm_equals_cold(store) == ["2024-03", "2024-04", "2024-05", "2024-06"]
    assert revenue(store, "march")["2024-03"] == march - 30.0
    assert revenue(store, "june")["2024-06"] == june + 30.0


def test_a_later_contact_takes_the_credit_from_an_earlier_campaign(store: Store) -> None:
    store.upsert([order("n1", 0, "2024-03-13", "70.00")])
    assert warm_equals_cold(store) == ["2024-03"]
    march, nov = revenue(store, "march")["2024-03"], revenue(store, "nov")["2024-11"]
    # a contact of nov's campaign between march's contact and the order (last touch wins):
    # the write reaches march by its date and nov by its campaign
    store.upsert([touch("t9", 0, "nov", "2024-03-12")])
    assert warm_equals_cold(store) == [f"2024-{m:02d}" for m in range(3, 12)]
    assert revenue(store, "march")["2024-03"] == march - 70.0
    assert revenue(store, "nov")["2024-11"] == nov + 70.0


def test_a_write_dated_after_every_window_closed_leaves_a_campaign_kept(store: Store) -> None:
    # march's last contact was on the 11th at 15:00: its window closes on the 18th at 15:00
    # (exclusive), so an order placed at that instant is credited to nobody
    store.upsert([order("n1", 1, "2024-03-18", "70.00", hour=15)])
    assert warm_equals_cold(store) == []


@pytest.mark.parametrize("credits", [True, False])
def test_a_new_contact_dated_before_its_campaign_widens_the_recompute(
        store: Store, credits: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without kept credits, a contact of `nov` dated in July makes its campaign's period
    (November) recomputed from July on, as the cold series reads it (the months between
    are recomputed too); the kept credits are from the series' start whatever the engine
    call's, so then November alone is."""
    monkeypatch.setattr(warm, "KEEP_CREDITS", credits)
    store.upsert([touch("t9", 5, "nov", "2024-07-01")])
    store.upsert([order("n1", 5, "2024-07-02", "12.50")])
    assert warm_equals_cold(store) == (
        ["2024-11"] if credits else ["2024-07", "2024-08", "2024-09", "2024-10", "2024-11"])
    assert revenue(store, "nov")["2024-11"] == 12.5


def test_periods_reached_apart_are_recomputed_in_one_run(store: Store) -> None:
    march, nov = revenue(store, "march")["2024-03"], revenue(store, "nov")["2024-11"]
    store.upsert([order("n1", 0, "2024-03-12", "11.00"), order("n2", 3, "2024-11-06", "22.00")])
    # march and nov are reached; one engine call from March on answers both (the months
    # between are recomputed too, which costs less than a second call)
    assert warm_equals_cold(store) == [f"2024-{m:02d}" for m in range(3, 12)]
    assert revenue(store, "march")["2024-03"] == march + 11.0
    assert revenue(store, "nov")["2024-11"] == nov + 22.0



FROM_SEPTEMBER = {**SPAN, "start": "2024-09"}
"""Four months of SPAN, starting with `early`'s month: its August contact is before them."""


@pytest.mark.parametrize("first", ["whole span", "from september"])
def test_a_series_from_another_start_does_not_reuse_a_kept_answer(tmp_path: Path,
                                                                  first: str) -> None:
    """A period's ROI credits the contacts made from its engine call's start on, so the
    answer depends on where the series starts: `early`'s August contact, and order r1's
    40.00, are in a series from January (SPAN), not in one from September. An answer kept
    by one series must not be reused by the other, whichever ran first."""
    spans = [SPAN, FROM_SEPTEMBER] if first == "whole span" else [FROM_SEPTEMBER, SPAN]
    expected = {"whole span": 40.0, "from september": 0.0}
    with roi_store(tmp_path / "roi.duckdb") as opened:
        for span in spans:
            hot = compute(opened, ROI, reuse=True, **span)
            assert warm.last_report.cold is None
            assert hot.rows() == compute(opened, ROI, **span).rows()
        for name, span in (("whole span", SPAN), ("from september", FROM_SEPTEMBER)):
            rows = compute(opened, ROI, reuse=True, **span).rows()
            assert [r["value"] for r in rows if r["item"] == "early"
                    and r["measure"] == "revenue"] == [expected[name]]
