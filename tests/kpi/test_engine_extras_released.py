"""The results a series metric leaves in the cache's extras (the CLV purchase days and fits)
live while the next metric is defined beside it, and are dropped before any other metric
runs: at 10M orders they are 0.25 GiB that the later metrics' queries need."""

from __future__ import annotations

from typing import Any

import pytest

from clientela.clv.engine import periods
from clientela.kpi import compute, engine
from clientela.store import Store


def test_clv_results_serve_p_alive_then_are_dropped(clientela_golden_store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    extras_seen: dict[str, int] = {}
    fetched: list[str] = []
    run_series, fetch = engine._run_series, periods.fetch_purchase_days

    def counting_run(metric: Any, params: Any, whole: Any, ctxs: Any) -> Any:
        extras_seen[metric.name] = len(whole.cache.extras)
        return run_series(metric, params, whole, ctxs)

    def counting_fetch(ctx: Any, **kwargs: Any) -> Any:
        fetched.append(ctx.metric)
        return fetch(ctx, **kwargs)

    monkeypatch.setattr(engine, "_run_series", counting_run)
    monkeypatch.setattr(periods, "fetch_purchase_days", counting_fetch)
    names = ["clv_predicted", "p_alive", "rfm_segments", "orders"]
    together = compute(clientela_golden_store, names, start="2024-07", end="2025-01",
                       grain="month").table.to_pylist()

    # p_alive finds clv_predicted's purchase days and its BG/NBD fit of each of the six
    # month ends (and the spend model's six): 1 + 6 + 6 entries; the purchase days are
    # fetched once for both; rfm_segments, from another module, starts with none
    assert extras_seen == {"clv_predicted": 0, "p_alive": 13, "rfm_segments": 0, "orders": 0}
    assert fetched == ["clv_predicted"]
    # dropping them changes no answer: the CLV metrics alone give the same rows (the
    # orders and RFM answers are those of other tests; RFM's mean monetary value is a
    # parallel float sum whose last bit can differ between any two runs)
    clv = [row for row in together if row["metric"] in ("clv_predicted", "p_alive")]
    alone = [row for name in ("clv_predicted", "p_alive")
             for row in compute(clientela_golden_store, [name], start="2024-07",
                                end="2025-01", grain="month").table.to_pylist()]
    assert clv == alone
    assert {row["metric"] for row in clv} == {"clv_predicted", "p_alive"}
