"""RFM exactly as KPIS.md specifies it.

Scores are rank-based quintiles, `1 + floor(5 * (rank - 1) / n)` with SQL
RANK() semantics (ties share the lowest rank, so equal values always share
a score; NTILE would split them). Ibis ranks are 0-based, so `rank - 1` is
Ibis's rank itself. Money stays DECIMAL end to end so ranks never depend on
float rounding. The segment table is data: pass your own rules to
`rfm_table` or through the `rfm_segments` metric's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ibis
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN, MetricContext

if TYPE_CHECKING:
    import ibis.expr.types as ir

UNMATCHED = "Other"


class SegmentRule(BaseModel):
    """One row of the segment table: R and FM score ranges, both inclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    segment: str = Field(min_length=1)
    r_min: int = Field(ge=1, le=5)
    r_max: int = Field(ge=1, le=5)
    fm_min: int = Field(ge=1, le=5)
    fm_max: int = Field(ge=1, le=5)

    @model_validator(mode="after")
    def _ordered(self) -> SegmentRule:
        if self.r_min > self.r_max or self.fm_min > self.fm_max:
            raise ValueError(f"segment {self.segment!r}: a range's min exceeds its max")
        return self


def _rule(segment: str, r: tuple[int, int], fm: tuple[int, int]) -> SegmentRule:
    return SegmentRule(segment=segment, r_min=r[0], r_max=r[1], fm_min=fm[0], fm_max=fm[1])


DEFAULT_SEGMENTS: tuple[SegmentRule, ...] = (
    _rule("Champions", (5, 5), (4, 5)),
    _rule("Loyal", (3, 4), (4, 5)),
    _rule("Cannot Lose Them", (1, 2), (5, 5)),
    _rule("At Risk", (1, 2), (3, 4)),
    _rule("Potential Loyalist", (4, 5), (2, 3)),
    _rule("Need Attention", (3, 3), (3, 3)),
    _rule("New", (5, 5), (1, 1)),
    _rule("Promising", (4, 4), (1, 1)),
    _rule("About To Sleep", (3, 3), (1, 2)),
    _rule("Hibernating", (1, 2), (2, 2)),
    _rule("Lost", (1, 2), (1, 1)),
)
"""KPIS.md's table, in order: the first matching row wins."""


class RfmParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    monetary: str = Field(default="total", pattern="^(total|mean)$",
                          description="M is total revenue, or mean revenue per order ('mean').")
    segments: tuple[SegmentRule, ...] = DEFAULT_SEGMENTS
    """The segment table; replace it to change the segments (first match wins)."""


def quintile(rank0: ir.IntegerValue, n: ir.IntegerValue) -> ir.IntegerValue:
    """1 + floor(5 * (rank - 1) / n), with Ibis's 0-based rank as `rank - 1`. Float division of
    small integers is exact enough here: a non-integer quotient is at least 1/n from the next
    integer, far above float64's error."""
    return (1 + (rank0.cast("float64") * 5 / n.cast("float64")).floor()).cast("int64")


def assign_segment(r: ir.IntegerValue, fm: ir.IntegerValue,
                   rules: Sequence[SegmentRule]) -> ir.StringValue:
    branches = [
        (r.between(rule.r_min, rule.r_max) & fm.between(rule.fm_min, rule.fm_max), rule.segment)
        for rule in rules
    ]
    if not branches:
        return ibis.literal(UNMATCHED)
    return ibis.cases(*branches, else_=UNMATCHED)


def rfm_table(ctx: MetricContext, params: RfmParams | None = None) -> ir.Table:
    """One row per customer with a valid order before `ctx.as_of`: recency_days, frequency,
    monetary and revenue (DECIMAL), r, f, m, fm and segment."""
    params = params or RfmParams()
    history = cv.history_at(ctx, at="as_of")
    monetary = (history.revenue if params.monetary == "total"
                else (history.revenue / history.orders).round(2).cast(cv.MONEY))
    keys = [PERIOD_COLUMN] if ctx.periods else []  # a series ranks each period apart
    base = history.select(
        "customer_id", *keys,
        recency_days=cv.days_between(history.last_at, history.at),
        frequency=history.orders,
        monetary=monetary,
        revenue=history.revenue,
    )

    base = rank_by_histogram(base, "recency_days", keys, descending=True, name="_r0")
    base = rank_by_histogram(base, "frequency", keys, descending=False, name="_f0",
                             total="_n")
    # whole cents as int64: the same order as the DECIMAL, sorted far faster (128-bit keys)
    cents = (base.monetary * 100).cast("int64")
    m0 = ibis.rank().over(ibis.window(group_by=keys, order_by=cents))
    scored = base.mutate(r=quintile(base._r0, base._n), f=quintile(base._f0, base._n),
                         m=quintile(m0, base._n)).drop("_r0", "_f0", "_n")
    scored = scored.mutate(fm=((scored.f + scored.m).cast("float64") / 2 + 0.5).floor()
                           .cast("int64"))
    return scored.mutate(segment=assign_segment(scored.r, scored.fm, params.segments))


def rank_by_histogram(table: ir.Table, column: str, keys: list[str], *, descending: bool,
                      name: str, total: str | None = None) -> ir.Table:
    """`table` with `name` = SQL RANK() - 1 of `column` within `keys` (the count of rows
    strictly before in that order), from a histogram of the values instead of a sort; with
    `total`, also the group's row count in that column (non-null values only).

    Recency in days and order counts take a few thousand distinct values however many
    customers there are, so counting each value, a running sum over the small histogram
    and a join back cost a fraction of sorting every customer (36 times over for a monthly
    series)."""
    value = table[column]
    counts = table.group_by([*keys, column]).aggregate(_n=value.count())
    order = ibis.desc(counts[column]) if descending else counts[column]
    running = counts._n.sum().over(ibis.cumulative_window(
        group_by=[counts[k] for k in keys], order_by=order))
    extra = {} if total is None else {total: counts._n.sum().over(
        ibis.window(group_by=[counts[k] for k in keys]))}
    below = counts.select(*keys, column, **{name: running - counts._n}, **extra)
    renamed = below.rename({f"_h_{c}": c for c in [*keys, column]})
    joined = table.inner_join(renamed, [table[c] == renamed[f"_h_{c}"]
                                        for c in [*keys, column]])
    return joined.drop(*[f"_h_{c}" for c in [*keys, column]])
