"""docs/metrics.md "Funnel, satisfaction and sales pipeline", each number checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fixtures_extra import (
    make_store,
    nps,
    opportunity,
    order,
    run,
    same_on_every_engine,
    traffic,
    value,
)

from clientela.kpi import MissingDataError
from clientela.metrics.funnel import metrics
from clientela.store import Store
from clientela.testing.engines import spark_available

METRICS = metrics()
MARCH = ("2025-03-01", "2025-04-01")


@pytest.fixture
def funnel(tmp_path: Path) -> Store:
    """March sessions: online 100 + 100, app 50 (the 02-28 and 04-01 rows are outside).
    March valid orders: online 6 (n1 twice, n2, n3, n4, n5; n5 first bought in February),
    app 1 (a1), store 1 (no traffic recorded: left out), one cancelled online order."""
    records = [
        traffic("2025-02-28", "online", 999),
        traffic("2025-03-01", "online", 100),
        traffic("2025-03-31", "online", 100),
        traffic("2025-04-01", "online", 500),
        traffic("2025-03-15", "app", 50),
        order("n5", "2025-02-10", 10),
        order("n1", "2025-03-02", 10), order("n1", "2025-03-03", 10),
        order("n2", "2025-03-04", 10), order("n3", "2025-03-05", 10),
        order("n4", "2025-03-06", 10), order("n5", "2025-03-07", 10),
        order("n6", "2025-03-08", 10, status="cancelled"),
        order("a1", "2025-03-09", 10, channel="app"),
        order("s1", "2025-03-10", 10, channel="store"),
    ]
    return make_store(tmp_path / "f.duckdb", records)


def test_conversion_rate_over_channels_with_traffic(funnel: Store) -> None:
    r = run(funnel, METRICS, ["conversion_rate"], *MARCH)
    assert value(r, "conversion_rate") == 7 / 250
    assert value(r, "conversion_rate", "sessions") == 250
    assert value(r, "conversion_rate", "conversions") == 7
    by = run(funnel, METRICS, ["conversion_rate"], *MARCH, by="channel")
    assert value(by, "conversion_rate", slice="online") == 6 / 200
    assert value(by, "conversion_rate", slice="app") == 1 / 50
    assert {row["channel"] for row in by.rows()} == {"online", "app"}


def test_conversion_rate_of_new_customers(funnel: Store) -> None:
    r = run(funnel, METRICS, ["conversion_rate"], *MARCH,
            params={"conversion_rate": {"numerator": "new_customers"}})
    assert value(r, "conversion_rate") == 5 / 250  # n1 n2 n3 n4 a1 (n5 is not new)


def test_conversion_rate_without_sessions_is_null(funnel: Store) -> None:
    r = run(funnel, METRICS, ["conversion_rate"], "2025-05-01", "2025-06-01")
    assert value(r, "conversion_rate") is None


def test_missing_traffic_raises(tmp_path: Path) -> None:
    s = make_store(tmp_path / "m.duckdb", [order("c1", "2025-03-02", 10)])
    with pytest.raises(MissingDataError, match="traffic"):
        run(s, METRICS, ["conversion_rate"], *MARCH)
    for name in ("opportunities_open", "opportunities_closed", "win_rate",
                 "time_to_sale_days"):
        with pytest.raises(MissingDataError, match="opportunities"):
            run(s, METRICS, [name], *MARCH)
    with pytest.raises(MissingDataError, match="nps_responses"):
        run(s, METRICS, ["nps"], *MARCH)


@pytest.fixture
def pipeline(tmp_path: Path) -> Store:
    records = [
        opportunity("online", "2025-02-10"),  # opened before March, still open
        opportunity("online", "2025-02-20", status="won", closed="2025-04-05", value="200"),
        opportunity("online", "2025-03-05", value="1000"),
        opportunity("store", "2025-03-10", status="won", closed="2025-03-20", value="500"),
        opportunity("store", "2025-01-01", status="lost", closed="2025-03-25"),
        opportunity("online", "2025-02-01", status="won", closed="2025-03-03 12:00",
                    value="50"),
        opportunity("online", "2025-03-01", status="won", closed="2025-03-04", value="70"),
        opportunity("store", "2025-02-01", status="won", closed="2025-02-28"),
    ]
    return make_store(tmp_path / "p.duckdb", records)


def test_opportunities_open_at_the_end_and_opened(pipeline: Store) -> None:
    r = run(pipeline, METRICS, ["opportunities_open"], *MARCH)
    # open on 04-01: the two opened in February (one is won only in April) and 03-05's
    assert value(r, "opportunities_open") == 3
    assert value(r, "opportunities_open", "opened") == 3  # 03-05, 03-10, 03-01
    assert value(r, "opportunities_open", "open_value") == 1200
    by = run(pipeline, METRICS, ["opportunities_open"], *MARCH, by="channel")
    assert value(by, "opportunities_open", slice="online") == 3
    assert value(by, "opportunities_open", "opened", slice="online") == 2
    assert value(by, "opportunities_open", slice="store") == 0
    assert value(by, "opportunities_open", "opened", slice="store") == 1


def test_opportunities_closed_and_win_rate(pipeline: Store) -> None:
    r = run(pipeline, METRICS, ["opportunities_closed", "win_rate"], *MARCH)
    assert value(r, "opportunities_closed") == 4
    assert value(r, "opportunities_closed", "won") == 3
    assert value(r, "opportunities_closed", "lost") == 1
    assert value(r, "opportunities_closed", "win_rate") == 0.75
    assert value(r, "opportunities_closed", "won_value") == 620
    assert value(r, "win_rate") == 0.75
    by = run(pipeline, METRICS, ["win_rate"], *MARCH, by="channel")
    assert value(by, "win_rate", slice="online") == 1.0
    assert value(by, "win_rate", slice="store") == 0.5
    june = run(pipeline, METRICS, ["win_rate"], "2025-06-01", "2025-07-01")
    assert value(june, "win_rate") is None


def test_time_to_sale_days(pipeline: Store) -> None:
    r = run(pipeline, METRICS, ["time_to_sale_days"], *MARCH)
    # won in March: 10 days, 30.5 days, 3 days
    assert value(r, "time_to_sale_days") == 43.5 / 3
    assert value(r, "time_to_sale_days", "median") == 10.0
    assert value(r, "time_to_sale_days", "opportunities") == 3
    by = run(pipeline, METRICS, ["time_to_sale_days"], *MARCH, by="channel")
    assert value(by, "time_to_sale_days", "median", slice="online") == (30.5 + 3) / 2
    june = run(pipeline, METRICS, ["time_to_sale_days"], "2025-06-01", "2025-07-01")
    assert value(june, "time_to_sale_days") is None


def test_nps_exact(tmp_path: Path) -> None:
    scores = [(10, "email"), (9, "email"), (6, "email"),
              (9, "whatsapp"), (8, "whatsapp"), (2, "whatsapp"), (10, "whatsapp")]
    records = [nps(score, f"2025-03-{i + 1:02d}", channel=ch) for i, (score, ch) in
               enumerate(scores)]
    records += [nps(0, "2025-02-28", channel="email"), nps(0, "2025-04-01", channel="email")]
    s = make_store(tmp_path / "n.duckdb", records)
    r = run(s, METRICS, ["nps"], *MARCH)
    assert value(r, "nps") == 200 / 7  # 4 promoters, 1 passive, 2 detractors of 7
    assert value(r, "nps", "promoters") == 4
    assert value(r, "nps", "passives") == 1
    assert value(r, "nps", "detractors") == 2
    assert value(r, "nps", "responses") == 7
    assert value(r, "nps", "promoters_pct") == 400 / 7
    by = run(s, METRICS, ["nps"], *MARCH, by="channel")
    assert value(by, "nps", slice="email") == 100 / 3
    assert value(by, "nps", slice="whatsapp") == 25.0
    empty = run(s, METRICS, ["nps"], "2025-06-01", "2025-07-01")
    assert value(empty, "nps") is None
    assert value(empty, "nps", "responses") == 0


def test_declarations() -> None:
    names = {m.name for m in METRICS}
    assert names == {"conversion_rate", "opportunities_open", "opportunities_closed",
                     "win_rate", "time_to_sale_days", "nps"}
    assert all(m.title_pt and m.description for m in METRICS)


@pytest.mark.spark
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(funnel: Store, pipeline: Store, tmp_path: Path) -> None:
    kw = dict(start="2025-03", end="2025-04", timezone="America/Sao_Paulo")
    by_name = {m.name: m for m in METRICS}
    same_on_every_engine(funnel, [by_name["conversion_rate"]], **kw)
    same_on_every_engine(pipeline, [m for m in METRICS if "opportunities" in m.needs],
                         slices=(None, "channel", "salesperson_id"), **kw)
    responses = make_store(tmp_path / "nps.duckdb", [
        nps(score, f"2025-03-{day:02d}", channel=("email", "whatsapp", None)[day % 3])
        for day, score in enumerate((10, 9, 6, 0, 8, 7, 10, 3, 9), start=1)])
    same_on_every_engine(responses, [by_name["nps"]], **kw)
