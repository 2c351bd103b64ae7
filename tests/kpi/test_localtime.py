"""Local days and seconds of UTC instants, in the engine, against zoneinfo in Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest

from clientela.kpi.localtime import (
    day_date,
    day_number,
    is_fixed,
    local_day,
    local_seconds,
    offset_intervals,
)
from clientela.testing.engines import spark_available, spark_session

# Changes of offset in 2023-2024 (UTC): New York at 07:00/06:00, Berlin at 01:00.
CHANGES = {
    "America/New_York": [datetime(2023, 3, 12, 7), datetime(2023, 11, 5, 6),
                         datetime(2024, 3, 10, 7), datetime(2024, 11, 3, 6)],
    "Europe/Berlin": [datetime(2023, 3, 26, 1), datetime(2023, 10, 29, 1),
                      datetime(2024, 3, 31, 1), datetime(2024, 10, 27, 1)],
}
STEPS = (timedelta(0), timedelta(microseconds=-1), timedelta(seconds=-1), timedelta(seconds=1),
         timedelta(hours=-5), timedelta(hours=-4), timedelta(hours=-1), timedelta(hours=1),
         timedelta(hours=4), timedelta(hours=5), timedelta(hours=22, minutes=59, seconds=59))


def _instants(timezone: str) -> list[datetime]:
    """Instants around every change, and a few local midnights on either side of one."""
    around = [change + step for change in CHANGES[timezone] for step in STEPS]
    tz = ZoneInfo(timezone)
    midnights = [datetime(2024, 3, d, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
                 for d in (9, 10, 11, 30, 31)]
    edges = [m + s for m in midnights for s in (timedelta(0), timedelta(microseconds=-1))]
    return sorted(set(around + edges))


def _expected(moment: datetime, timezone: str) -> tuple[int, int]:
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    seconds = int((local - datetime(1970, 1, 1)).total_seconds() // 1)
    return (local.date() - datetime(1970, 1, 1).date()).days, seconds


def _run(backend: ibis.BaseBackend, timezone: str, moments: list[datetime]
         ) -> list[tuple[int, int]]:
    table = backend.create_table(
        f"moments_{abs(hash(timezone))}",
        pa.table({"i": list(range(len(moments))), "at": pa.array(moments, pa.timestamp("us"))}),
        overwrite=True)
    lo, hi = min(moments), max(moments)
    expr = table.select(
        "i", day=local_day(table.at, timezone, lo, hi),
        seconds=local_seconds(table.at, timezone, lo, hi).floor().cast("int64"),
    ).order_by("i")
    found = expr.to_pyarrow()
    return list(zip(found["day"].to_pylist(), found["seconds"].to_pylist(), strict=True))


@pytest.mark.parametrize("timezone", sorted(CHANGES))
def test_local_day_and_seconds_match_zoneinfo_across_dst_changes(timezone: str) -> None:
    moments = _instants(timezone)
    expected = [_expected(m, timezone) for m in moments]
    assert _run(ibis.duckdb.connect(), timezone, moments) == expected
    assert [day_number(m, timezone) for m in moments] == [day for day, _ in expected]


def test_offset_intervals_change_exactly_at_zoneinfos_transitions() -> None:
    found = offset_intervals("Europe/Berlin", datetime(2023, 1, 1), datetime(2024, 12, 31))
    assert [start for start, _, _ in found[1:]] == CHANGES["Europe/Berlin"]
    assert [offset for _, _, offset in found] == [3600, 7200, 3600, 7200, 3600]
    assert all(end == following[0] for (_, end, _), following in pairwise(found))


def test_a_zone_without_changes_in_the_span_is_one_interval() -> None:
    assert len(offset_intervals("America/Sao_Paulo", datetime(2020, 1, 1),
                                datetime(2025, 12, 31))) == 1
    assert not is_fixed("America/Sao_Paulo")  # it had daylight saving until 2019
    assert is_fixed("UTC") and is_fixed("Etc/UTC")


def test_day_date_inverts_day_number() -> None:
    moment = datetime(2024, 3, 10, 4, 59, 59)  # 23:59:59 on the 9th in New York
    assert day_date(day_number(moment, "America/New_York")).isoformat() == "2024-03-09"


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
@pytest.mark.parametrize("timezone", sorted(CHANGES))
def test_pyspark_gives_the_same_local_days_as_duckdb(timezone: str) -> None:
    moments = _instants(timezone)
    assert _run(ibis.pyspark.connect(spark_session()), timezone, moments) == \
        _run(ibis.duckdb.connect(), timezone, moments)
