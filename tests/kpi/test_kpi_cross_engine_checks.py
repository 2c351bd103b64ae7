"""The checks the cross-engine tests stand on: an answer without numbers is refused
(check_answered), and the PostgreSQL fixture skips only when PostgreSQL is not required."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from clientela.kpi import KpiResult, compute
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing import engines
from clientela.testing.conformance import check_answered

pytest_plugins = ["pytester"]


def test_an_answer_with_numbers_passes(basic_store: Store, metrics: dict[str, Metric]) -> None:
    result = compute(basic_store, ["orders", "aov"], catalog=metrics, start="2025-01",
                     end="2025-03", grain="month")
    check_answered(result, ["orders", "aov"])


def test_a_null_or_missing_value_is_named_with_its_period(
        basic_store: Store, metrics: dict[str, Metric]) -> None:
    """aov is null in a month without orders (2025-04 in the basic store); a metric not in
    the answer at all is named too."""
    result = compute(basic_store, ["orders", "aov"], catalog=metrics, start="2025-03",
                     end="2025-05", grain="month")
    with pytest.raises(AssertionError, match=r"aov \(2025-04\); revenue \(2025-03, 2025-04\)"):
        check_answered(result, ["orders", "aov", "revenue"])


def test_a_comparison_needs_both_sides(basic_store: Store, metrics: dict[str, Metric]) -> None:
    both = compute(basic_store, ["orders"], catalog=metrics,
                   compare=(("2025-01", "2025-02"), ("2025-02", "2025-03")))
    check_answered(both, ["orders"])
    one = compute(basic_store, ["aov"], catalog=metrics,
                  compare=(("2025-01", "2025-02"), ("2030-01", "2030-02")))
    with pytest.raises(AssertionError, match=r"aov \(both periods\)"):
        check_answered(one, ["aov"])


def test_an_empty_answer_is_refused() -> None:
    empty = KpiResult(pa.table({"metric": pa.array([], pa.string()),
                                "period": pa.array([], pa.string()),
                                "measure": pa.array([], pa.string()),
                                "value": pa.array([], pa.float64())}), "series")
    with pytest.raises(AssertionError, match="no row at all"):
        check_answered(empty, ["orders"])


def _fixture_outcome(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                     required: bool) -> pytest.RunResult:
    """Run a test that asks for `postgres_server` (tests/kpi/conftest.py) where PostgreSQL
    is missing."""
    monkeypatch.setattr(engines, "postgres_missing", lambda: "no PostgreSQL on this machine")
    if required:
        monkeypatch.setenv("CLIENTELA_REQUIRE_POSTGRES", "1")
    else:
        monkeypatch.delenv("CLIENTELA_REQUIRE_POSTGRES", raising=False)
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile("def test_needs_a_server(postgres_server):\n    pass\n")
    return pytester.runpytest_inprocess("-p", "no:randomly", "-rs")


def test_missing_postgres_is_a_skip(pytester: pytest.Pytester,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    result = _fixture_outcome(pytester, monkeypatch, required=False)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no PostgreSQL on this machine*"])


def test_missing_postgres_fails_when_required(pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    result = _fixture_outcome(pytester, monkeypatch, required=True)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CLIENTELA_REQUIRE_POSTGRES=1 but no PostgreSQL*"])
