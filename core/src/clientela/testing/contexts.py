"""A metric's context for a whole series, built by hand.

The engine builds this context inside `compute`; a plugin author who wants to
call a metric's compute function directly (to compile it for another engine,
or to check that it refuses a request with SeriesUnsupported) needs the same
object without running the engine.
"""

from __future__ import annotations

from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import buckets, make_period, parse_bound, zone
from clientela.store import Store


def series_context(store: Store, metric: str, *, start: str, end: str, grain: str = "month",
                   timezone: str = "UTC", by: str | None = None) -> MetricContext:
    """The context the engine gives `metric` for the series [start, end) cut by `grain`."""
    tz = zone(timezone)
    periods = buckets(parse_bound(start), parse_bound(end), grain, tz)
    span = make_period(periods[0].start, periods[-1].end, tz)
    backend = store.ibis()
    return MetricContext(backend=backend, period=span, as_of=span.end_utc, timezone=timezone,
                         currency="BRL", metric=metric, cache=TableCache(backend),
                         periods=tuple(periods), by=by)
