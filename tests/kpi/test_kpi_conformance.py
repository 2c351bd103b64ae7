"""The pytest plugin's conformance fixture, as a plugin author would use it."""

from __future__ import annotations

import pytest

from clientela.kpi import KpiResult
from clientela.testing.conformance import check_identical


def test_conformance_fixture_runs_builtin_metrics(clientela_conformance, metrics: dict
                                                  ) -> None:
    result = clientela_conformance([metrics["revenue"], metrics["rfm_segments"]],
                                   start="2025-01", end="2025-07", grain="quarter")
    assert result.value("revenue", period="2025-Q1") > 0


def test_check_identical_reports_a_difference(clientela_conformance, metrics: dict) -> None:
    one = clientela_conformance([metrics["orders"]], start="2025-01", end="2025-02")
    table = one.to_arrow()
    changed = table.set_column(table.column_names.index("value"), "value",
                               __import__("pyarrow").array([table["value"][0].as_py() + 1]))
    with pytest.raises(AssertionError, match="disagree"):
        check_identical({"a": one, "b": KpiResult(changed, "series")})
