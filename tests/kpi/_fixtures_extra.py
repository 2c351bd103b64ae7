"""Terse builders of the records the campaign, loyalty and funnel metric tests need, on top
of the KPI lead's `_kpi_fixtures` (customers, orders, store building).

Each test builds its own tiny store so that every expected number can be
checked by hand against the records written right above the assertion.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from _kpi_fixtures import SOURCE, build_store, customer
from _kpi_fixtures import order as _order

from clientela.kpi import KpiResult, compute
from clientela.metrics.api import Metric
from clientela.model.base import Record
from clientela.model.entities import (
    Campaign,
    LoyaltyEvent,
    NpsResponse,
    Opportunity,
    Order,
    Touch,
    Traffic,
)
from clientela.store import Store

__all__ = ["at", "campaign", "customer", "loyalty", "make_store", "nps", "opportunity", "order",
           "run", "touch", "traffic", "value"]

_counter = {"n": 0}


def _next_id(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}{_counter['n']}"


def at(text: str) -> datetime:
    """A naive UTC instant from 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text)


def order(customer_id: str | None, placed: str, total: str | int, *, status: str = "paid",
          order_id: str | None = None, channel: str = "online", **kw: Any) -> Order:
    """An order with a generated id (customer first: these tests name orders only when an event
    refers to them)."""
    return _order(order_id or _next_id("o"), customer_id, at(placed), total, status=status,
                  channel=channel, **kw)


def campaign(campaign_id: str, started: str, *, cost: str | int = 0, channel: str = "email",
             kind: str = "marketing", **kw: Any) -> Campaign:
    return Campaign(source=SOURCE, campaign_id=campaign_id, name=campaign_id, channel=channel,
                    kind=kind, started_at=at(started), cost=Decimal(str(cost)), **kw)


def touch(customer_id: str, when: str, *, campaign_id: str | None = None,
          channel: str = "email", touch_id: str | None = None, **kw: Any) -> Touch:
    return Touch(source=SOURCE, touch_id=touch_id or _next_id("t"), customer_id=customer_id,
                 campaign_id=campaign_id, channel=channel, occurred_at=at(when), **kw)


def loyalty(customer_id: str, kind: str, points: int, when: str, *,
            expires: str | None = None, **kw: Any) -> LoyaltyEvent:
    return LoyaltyEvent(source=SOURCE, event_id=_next_id("e"), customer_id=customer_id,
                        kind=kind, points=points, occurred_at=at(when),
                        expires_at=None if expires is None else at(expires), **kw)


def opportunity(channel: str, opened: str, *, status: str = "open", closed: str | None = None,
                **kw: Any) -> Opportunity:
    return Opportunity(source=SOURCE, opportunity_id=_next_id("op"), channel=channel,
                       status=status, opened_at=at(opened),
                       closed_at=None if closed is None else at(closed), **kw)


def nps(score: int, when: str, *, channel: str | None = None, **kw: Any) -> NpsResponse:
    return NpsResponse(source=SOURCE, response_id=_next_id("r"), score=score,
                       responded_at=at(when), channel=channel, **kw)


def traffic(day: str, channel: str, sessions: int) -> Traffic:
    return Traffic(source=SOURCE, day=date.fromisoformat(day), channel=channel,
                   sessions=sessions)


def make_store(path: Path, records: Sequence[Record]) -> Store:
    """A store holding `records` (any mix of entities; upsert takes one entity at a time)."""
    by_type: dict[type[Record], list[Record]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    return build_store(path, *by_type.values())


def run(store: Store, metrics: Sequence[Metric], names: Sequence[str], start: str, end: str,
        **kw: Any) -> KpiResult:
    """compute() against the given metric objects only, so the tests do not depend on which
    other sections the registry holds."""
    return compute(store, list(names), start=start, end=end,
                   catalog={m.name: m for m in metrics}, **kw)


def value(result: KpiResult, metric: str, measure: str = "value", *, item: str | None = None,
          slice: str | None = None, period: str | None = None) -> float | None:
    """Like KpiResult.value, but `item=None` means the row whose item is null (the total of an
    itemized metric), not "any item"."""
    matches = [
        row for row in result.rows()
        if row["metric"] == metric and row["measure"] == measure and row["item"] == item
        and (slice is None or (result.by is not None and row.get(result.by) == slice))
        and (period is None or row.get("period") == period)
    ]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} rows match {metric}/{measure} item={item} "
                          f"slice={slice} period={period}")
    found = matches[0]["value"]
    return None if found is None else float(found)


def same_on_every_engine(store: Store, metrics: Sequence[Metric], *,
                         slices: Sequence[str | None] = (None, "channel"), **kw: Any) -> None:
    """DuckDB and PySpark give identical tables for `metrics` on `store`, unsliced and by each
    of `slices` the metric supports (callers mark the test `spark`)."""
    from clientela.testing.conformance import check_identical, run_everywhere
    from clientela.testing.engines import engines, store_tables

    backends = list(engines(store_tables(store), spark=True))
    catalog = {m.name: m for m in metrics}
    for by in slices:
        chosen = [m for m in metrics if by is None or by in m.slices]
        if chosen:
            check_identical(run_everywhere(backends, chosen, by=by, catalog=catalog, **kw))
