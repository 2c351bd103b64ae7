"""The conformance fixture's PostgreSQL check: it passes every built-in metric and fails a
metric that PostgreSQL would refuse, naming the metric, the slice and the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.kpi import conventions as cv
from clientela.metrics.api import Metric
from clientela.plugins import registry
from clientela.store import Store
from clientela.testing.golden import golden_store
from clientela.testing.portability import NotPortable, check_postgres


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = golden_store(Path(tmp_path_factory.mktemp("golden")) / "golden.duckdb")
    yield store
    store.close()


def test_every_built_in_metric_passes(golden: Store) -> None:
    check_postgres(golden.ibis(), sorted(registry().metrics))


def _bad(ctx, params):  # type: ignore[no-untyped-def]
    orders = cv.period_orders(ctx)
    big = (orders.revenue > 100).cast("int64").sum()
    kept = (orders.revenue > 100).cast("int32").sum()  # INTEGER: PostgreSQL takes this one
    return cv.summarize(orders, ctx, value=big, kept=kept)


BAD = Metric(name="bad_share", title="Bad", title_pt="Ruim", description="Not portable.",
             unit="count", compute=_bad, needs=("orders",), slices=("channel",),
             measures=("value", "kept"))


def test_a_boolean_cast_to_bigint_fails_with_the_fix(golden: Store) -> None:
    with pytest.raises(NotPortable) as failed:
        check_postgres(golden.ibis(), [BAD])
    message = str(failed.value)
    assert message.splitlines() == [
        "not portable to PostgreSQL:",
        "- bad_share: CAST(boolean AS int64) is refused by PostgreSQL: use "
        "clientela.kpi.conventions.indicator(condition) for a 0/1 column",
        "- bad_share by channel: CAST(boolean AS int64) is refused by PostgreSQL: use "
        "clientela.kpi.conventions.indicator(condition) for a 0/1 column",
    ]


def _integer_mean(ctx, params):  # type: ignore[no-untyped-def]
    orders = cv.period_orders(ctx, amounts=())
    return cv.summarize(orders, ctx, value=orders.loyalty_points_earned.mean(),
                        portable=cv.mean(orders.loyalty_points_earned))


INTEGER_MEAN = Metric(name="mean_points", title="Mean points", title_pt="Pontos",
                      description="Not portable.", unit="number", compute=_integer_mean,
                      needs=("orders",), measures=("value", "portable"))


def test_a_mean_of_integers_fails_with_the_fix(golden: Store) -> None:
    with pytest.raises(NotPortable) as failed:
        check_postgres(golden.ibis(), [INTEGER_MEAN])
    assert str(failed.value).splitlines() == [
        "not portable to PostgreSQL:",
        "- mean_points: AVG of int64 is NUMERIC on PostgreSQL: use "
        "clientela.kpi.conventions.mean(value), a float64 mean",
    ]
