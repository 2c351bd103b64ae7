"""`KpiResult.value` names what it could not find as the user's mistake, not a bug."""

from __future__ import annotations

import pyarrow as pa
import pytest

from clientela.errors import NotFound, UserError
from clientela.kpi.result import KpiResult


def _result() -> KpiResult:
    table = pa.table({
        "metric": ["orders", "orders", "revenue"],
        "period": ["2025-01", "2025-02", "2025-01"],
        "item": [None, None, None],
        "measure": ["value", "value", "value"],
        "value": [3.0, 5.0, 120.5],
    })
    return KpiResult(table=table, kind="series")


def test_one_matching_row_gives_its_number() -> None:
    assert _result().value("orders", period="2025-02") == 5.0
    assert _result().value("revenue") == 120.5


@pytest.mark.parametrize(("metric", "period", "count"), [("aov", None, 0), ("orders", None, 2)])
def test_no_row_or_several_is_not_found(metric: str, period: str | None, count: int) -> None:
    with pytest.raises(NotFound, match=f"^{count} rows match {metric}/value") as raised:
        _result().value(metric, period=period)
    assert isinstance(raised.value, UserError)
    assert isinstance(raised.value, LookupError)
