"""Recency counts calendar days in the workspace time zone: bought yesterday is 1 day ago,
whatever the hour (an order at 23:30 the evening before is not '0 days')."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parents[1] / "kpi"))
from _kpi_fixtures import build_store, customer, order

SP = ZoneInfo("America/Sao_Paulo")


def test_bought_yesterday_is_one_day_in_the_workspace_zone(run, tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    build_store(store, [customer("late"), customer("early"), customer("today")], [
        # 23:30 on 30 June in Sao Paulo is 02:30 on 1 July in UTC
        order("o1", "late", datetime(2025, 6, 30, 23, 30, tzinfo=SP), 10),
        order("o2", "early", datetime(2025, 6, 30, 0, 30, tzinfo=SP), 10),
        order("o3", "today", datetime(2025, 7, 1, 0, 10, tzinfo=SP), 10),
    ]).close()
    Path("clientela.toml").write_text(
        f'[workspace]\nstore = "{store}"\ntimezone = "America/Sao_Paulo"\n')
    # as of 1 July 12:00 local: two bought on 30 June (1 day), one on 1 July (0 days)
    ran = run("kpi", "recency_days", "--from", "2025-07", "--to", "2025-08",
              "--as-of", "2025-07-01T12:00", "--format", "json")
    assert ran.exit_code == 0, ran.output
    values = {(r["item"], r["measure"]): r["value"] for r in json.loads(ran.out)}
    assert values[(None, "value")] == (1 + 1 + 0) / 3
    assert values[(None, "median")] == 1


def test_rfm_recency_is_calendar_days(run, tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    build_store(store, [customer("late")], [
        order("o1", "late", datetime(2025, 6, 30, 23, 30, tzinfo=SP), 10)]).close()
    Path("clientela.toml").write_text(
        f'[workspace]\nstore = "{store}"\ntimezone = "America/Sao_Paulo"\n')
    out = tmp_path / "rfm.csv"
    ran = run("segments", "rfm", "--as-of", "2025-07-01", "--output", str(out))
    assert ran.exit_code == 0, ran.output
    with out.open() as file:
        assert next(csv.DictReader(file))["recency_days"] == "1"
