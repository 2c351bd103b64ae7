"""A CLV series fits its spend model and predicts on a worker thread.

`clientela.clv.engine.periods.predicted_values` hands each period's spend fit and
predictions to one worker thread while the calling thread builds the next period's
summary and purchase fit. Each step is the same computation on the same inputs, so
the answer must be identical, digit for digit, to the series on one thread, and an
error must be the one a single thread would have met first.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from clientela.clv.engine import periods
from clientela.clv.models.errors import ClvFitError
from clientela.kpi import compute
from clientela.kpi.errors import KpiError
from clientela.store import Store
from clientela.testing.conformance import check_identical

CLV_METRICS = ["clv_predicted", "p_alive"]
SERIES: dict[str, Any] = dict(start="2024-10", end="2025-04", grain="month",
                              timezone="America/Sao_Paulo")


def _threads_of(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the thread each call of `periods.<name>` runs on."""
    seen: list[str] = []
    real = getattr(periods, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(periods, name, recorded)
    return seen


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_two_threads_give_the_one_thread_answer(clientela_golden_store: Store,
                                                monkeypatch: pytest.MonkeyPatch,
                                                by: str | None) -> None:
    spend_threads = _threads_of(monkeypatch, "fit_spend")
    purchase_threads = _threads_of(monkeypatch, "fit_purchases")
    two = compute(clientela_golden_store, CLV_METRICS, by=by, **SERIES)
    assert len(spend_threads) == 6 and len(purchase_threads) == 6  # one of each a month
    assert all(name.startswith("clv-predict") for name in spend_threads)
    assert threading.main_thread().name in purchase_threads
    spend_threads.clear()
    monkeypatch.setattr(periods, "TWO_THREADS", False)
    one = compute(clientela_golden_store, CLV_METRICS, by=by, **SERIES)
    assert spend_threads == [threading.main_thread().name] * 6
    check_identical({"two threads": two, "one thread": one})
    assert len(two) == len(one) > 0


def _failing(monkeypatch: pytest.MonkeyPatch, name: str, from_end: datetime) -> None:
    """`periods.<name>` fails for every calibration end from `from_end` on."""
    real = getattr(periods, name)

    def fit(summary: Any, *args: Any, **kwargs: Any) -> Any:
        if ends[len(calls)] >= from_end:
            raise ClvFitError(f"{name} refused")
        calls.append(1)
        return real(summary, *args, **kwargs)

    calls: list[int] = []
    ends = [datetime(2024, 11, 1, 3), datetime(2024, 12, 1, 3), datetime(2025, 1, 1, 3),
            datetime(2025, 2, 1, 3), datetime(2025, 3, 1, 3), datetime(2025, 4, 1, 3)]
    monkeypatch.setattr(periods, name, fit)


@pytest.mark.parametrize("two_threads", [True, False])
def test_the_earliest_periods_error_wins(clientela_golden_store: Store,
                                         monkeypatch: pytest.MonkeyPatch,
                                         two_threads: bool) -> None:
    """The spend fit fails from December on, the purchase fit from February on: the
    worker's December error is still what the call reports, as on one thread."""
    monkeypatch.setattr(periods, "TWO_THREADS", two_threads)
    _failing(monkeypatch, "fit_spend", datetime(2024, 12, 1, 3))
    _failing(monkeypatch, "fit_purchases", datetime(2025, 2, 1, 3))
    with pytest.raises(KpiError, match=r"as of 2024-12-01 03:00 UTC: fit_spend refused"):
        compute(clientela_golden_store, ["clv_predicted"], **SERIES)


@pytest.mark.parametrize("two_threads", [True, False])
def test_a_purchase_fit_error_before_any_spend_error(clientela_golden_store: Store,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     two_threads: bool) -> None:
    monkeypatch.setattr(periods, "TWO_THREADS", two_threads)
    _failing(monkeypatch, "fit_spend", datetime(2025, 3, 1, 3))
    _failing(monkeypatch, "fit_purchases", datetime(2025, 1, 1, 3))
    with pytest.raises(KpiError, match=r"as of 2025-01-01 03:00 UTC: fit_purchases refused"):
        compute(clientela_golden_store, ["clv_predicted"], **SERIES)
