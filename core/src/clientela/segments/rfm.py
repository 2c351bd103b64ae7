"""RFM as docs/metrics.md defines it.

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
from clientela.kpi.localtime import calendar_day, calendar_day_intervals, calendar_day_number
from clientela.kpi.sql import pick_value

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
"""The segment table of docs/metrics.md, in order: the first matching row wins."""


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


def segment_of(r: int, fm: int, rules: Sequence[SegmentRule]) -> str:
    """The segment of one (R, FM) pair: the first matching rule's, in Python."""
    for rule in rules:
        if rule.r_min <= r <= rule.r_max and rule.fm_min <= fm <= rule.fm_max:
            return rule.segment
    return UNMATCHED


def segment_labels(rules: Sequence[SegmentRule]) -> list[str]:
    """The segments scores from 1 to 5 can reach, in the order the 25 (R, FM) pairs first
    reach them: a segment's code (`segment_code`) is its place in this list."""
    found = [segment_of(r, fm, rules) for r in range(1, 6) for fm in range(1, 6)]
    return list(dict.fromkeys(found))


def segment_code(r: ir.IntegerValue, fm: ir.IntegerValue,
                 rules: Sequence[SegmentRule]) -> ir.IntegerValue:
    """`assign_segment` for scores from 1 to 5, as the segment's code in `segment_labels`:
    the code of each of the 25 (R, FM) pairs worked out in Python and picked by a binary
    search on (R - 1) * 5 + FM - 1. A few integer comparisons per row, where the rule table
    is up to two ranges per rule and a string per row; `segment_label` names the code
    once rows are summed up per segment."""
    labels = segment_labels(rules)
    codes = [labels.index(segment_of(r, fm, rules)) for r in range(1, 6) for fm in range(1, 6)]
    return pick_value((r - 1) * 5 + fm - 1, codes).cast("int64")


def segment_label(code: ir.IntegerValue, rules: Sequence[SegmentRule]) -> ir.StringValue:
    """The segment named by a `segment_code`."""
    return pick_value(code, segment_labels(rules)).cast("string")


def rfm_table(ctx: MetricContext, params: RfmParams | None = None, *,
              coded: bool = False) -> ir.Table:
    """One row per customer with a valid order before `ctx.as_of`: recency_days, frequency,
    monetary and revenue (DECIMAL), r, f, m, fm and segment (with `coded`, the segment's
    integer `segment_code` instead, for a summary per segment to name after summing).

    The scores are `quintile` of each customer's rank (see `rfm_table_reference`, the
    formula as written, which answers one instant). For a series they are computed from
    each period's four cut points per score (`quintile_thresholds`): one small table per
    period, joined back once, where ranking would sort every customer x period row, and a
    join per score would probe them three times. The per-row columns are worked out once
    (`_series_rows`)."""
    params = params or RfmParams()
    if not ctx.periods:
        # one instant: the three ranks in one query over the customers are cheaper than
        # the cut points' several small passes (0.27 s against 0.8 s of CPU at 1M orders)
        return _segmented(_scored_reference(ctx, params), params, coded=coded)
    keys = [PERIOD_COLUMN]  # a series scores each period apart
    rows = _series_rows(ctx, params)
    cuts = quintile_thresholds(rows, "_r", keys, exact=True)
    for column, exact in (("_f", True), ("_m", False)):
        more = quintile_thresholds(rows, column, keys, exact=exact)
        cuts = cuts.inner_join(more, keys)
    cuts = cuts.rename({f"_k{k}": k for k in keys})
    joined = rows.inner_join(cuts, [rows[k] == cuts[f"_k{k}"] for k in keys])
    scored = joined.mutate(r=_score(joined._r, joined, "_r"), f=_score(joined._f, joined, "_f"),
                           m=_score(joined._m, joined, "_m"))
    scored = scored.select("customer_id", *keys, "recency_days", "frequency", "monetary",
                           "revenue", "r", "f", "m")
    return _segmented(scored, params, coded=coded, lookup=True)


def _series_rows(ctx: MetricContext, params: RfmParams) -> ir.Table:
    """`_rfm_base` of a series with the narrow integer columns the cut points read: `_r`
    (recency negated, so that "more days" ranks first as the formula wants), `_f` (the
    order count) and `_m` (money as whole cents: int64 compares faster than a DECIMAL's
    128-bit keys, in the same order).

    Every column is worked out once per customer x period row and read by the three
    histograms and the scoring alike. Recency is the period end's local day, a literal per
    period found in Python (`calendar_day_number`), minus the last order's, the same
    subtraction `calendar_days_between` makes with the period end's day computed per row."""
    history = cv.history_at(ctx, at="as_of")
    monetary = (history.revenue if params.monetary == "total"
                else (history.revenue / history.orders).round(2).cast(cv.MONEY))
    intervals = calendar_day_intervals(ctx)
    end_days = [calendar_day_number(p.end_utc, intervals) for p in ctx.periods or ()]
    recency = (pick_value(history[PERIOD_COLUMN], end_days)
               - calendar_day(history.last_at, intervals))
    rows = history.select("customer_id", PERIOD_COLUMN, recency_days=recency,
                          frequency=history.orders, monetary=monetary,
                          revenue=history.revenue)
    return rows.mutate(_r=-rows.recency_days, _f=rows.frequency,
                       _m=(rows.monetary * 100).cast("int64"))


def rfm_table_reference(ctx: MetricContext, params: RfmParams | None = None) -> ir.Table:
    """rfm_table as docs/metrics.md writes it: each score is `quintile` of the customer's
    RANK() among the customers (by recency descending, frequency, monetary). Slower (a sort
    per score); kept as the definition `rfm_table` is tested against."""
    params = params or RfmParams()
    return _segmented(_scored_reference(ctx, params), params)


def _scored_reference(ctx: MetricContext, params: RfmParams) -> ir.Table:
    """The rows of `rfm_table_reference` with r, f and m, before fm and the segment."""
    keys = [PERIOD_COLUMN] if ctx.periods else []
    base = _rfm_base(ctx, params, keys)
    n = base.count().over(ibis.window(group_by=keys)) if keys else base.count().over()

    def rank(order: ir.Value) -> ir.IntegerValue:
        return ibis.rank().over(ibis.window(group_by=keys, order_by=order))

    return base.mutate(r=quintile(rank(ibis.desc(base.recency_days)), n),
                       f=quintile(rank(base.frequency), n),
                       m=quintile(rank(base.monetary), n))


def _rfm_base(ctx: MetricContext, params: RfmParams, keys: list[str]) -> ir.Table:
    history = cv.history_at(ctx, at="as_of")
    monetary = (history.revenue if params.monetary == "total"
                else (history.revenue / history.orders).round(2).cast(cv.MONEY))
    return history.select(
        "customer_id", *keys,
        recency_days=cv.calendar_days_between(ctx, history.last_at, history.at),
        frequency=history.orders,
        monetary=monetary,
        revenue=history.revenue,
    )


def _segmented(scored: ir.Table, params: RfmParams, *, coded: bool = False,
               lookup: bool = False) -> ir.Table:
    """`scored` with fm and the segment: its `segment_code` (`coded`), a label looked up
    from the 25 pairs (`lookup`), or the rules written out. The rank formula keeps scores
    within 1 to 5, so the three agree."""
    scored = scored.mutate(fm=((scored.f + scored.m).cast("float64") / 2 + 0.5).floor()
                           .cast("int64"))
    if coded:
        return scored.mutate(segment_code=segment_code(scored.r, scored.fm, params.segments))
    if lookup:
        code = segment_code(scored.r, scored.fm, params.segments)
        return scored.mutate(segment=segment_label(code, params.segments))
    return scored.mutate(segment=assign_segment(scored.r, scored.fm, params.segments))


def _score(value: ir.IntegerValue, table: ir.Table, prefix: str) -> ir.IntegerValue:
    """1 + the number of the group's cut points `value` exceeds: `quintile` of its rank."""
    above = [ibis.ifelse(value > table[f"{prefix}_t{s}"], 1, 0) for s in range(1, 5)]
    return (1 + above[0] + above[1] + above[2] + above[3]).cast("int64")


def quintile_thresholds(table: ir.Table, column: str, keys: list[str], *,
                        exact: bool) -> ir.Table:
    """Per `keys` group, `{column}_t1`..`{column}_t4`: the cut points T_s of the integer
    `column` (see `quintile_by_cut_points`), from an exact histogram of its values
    (`exact`: for columns with few distinct values, such as days and order counts: one
    pass) or from `cut_points`' two passes (money, with a value per customer)."""
    if not exact:
        found = cut_points(table, column, keys)
        return found.rename({f"{column}_t{s}": f"_t{s}" for s in range(1, 5)})
    value = table[column]
    counts = table.filter(value.notnull()).group_by([*keys, column]).aggregate(
        _c=value.count())
    group = [counts[k] for k in keys]
    counts = counts.mutate(
        _upto=counts._c.sum().over(ibis.cumulative_window(group_by=group,
                                                          order_by=counts[column])),
        _n=counts._c.sum().over(ibis.window(group_by=group)))
    cuts = {}
    for s in range(1, 5):
        k = (counts._n.cast("float64") * s / 5).ceil().cast("int64")  # exact: n * s is whole
        cuts[f"{column}_t{s}"] = ibis.ifelse(counts._upto >= k, counts[column],
                                             ibis.null()).min()
    return counts.group_by(keys).aggregate(**cuts) if keys else counts.aggregate(**cuts)


BUCKET_EDGES: tuple[int, ...] = tuple(sorted({round(1.1 ** i) for i in range(363)}))
"""Lower edges of coarse buckets of whole cents (every integer up to 10, then 10% apart, up
to about 10^15): any increasing edges give the same exact scores, the spacing only decides
how many rows the second pass reads."""


def quintile_by_cut_points(table: ir.Table, column: str, keys: list[str], *,
                           name: str, values: ir.Table | None = None,
                           exact: bool = False) -> ir.Table:
    """`table` with `name` = the quintile score of the integer `column` within `keys`, with
    RANK() ties, found without ranking every row. `values` (default `table`) is a narrower
    table holding the same `keys` and `column` to find the cut points in; `exact` as in
    `quintile_thresholds`.

    score >= s + 1 exactly when at least k_s = ceil(n * s / 5) values are below the row's, that
    is when the value exceeds the k_s-th smallest value T_s; so score = 1 + the number of
    the four cut points T_1..T_4 it exceeds."""
    cuts = quintile_thresholds(table if values is None else values, column, keys,
                               exact=exact)
    if keys:
        cuts = cuts.rename({f"_k{k}": k for k in keys})
        joined = table.left_join(cuts, [table[k] == cuts[f"_k{k}"] for k in keys])
        joined = joined.drop(*[f"_k{k}" for k in keys])
    else:
        joined = table.cross_join(cuts)
    score = ibis.ifelse(joined[column].isnull(), ibis.null("int64"),
                        _score(joined[column], joined, column))
    return joined.mutate(**{name: score}).drop(*[f"{column}_t{s}" for s in range(1, 5)])


def cut_points(table: ir.Table, column: str, keys: list[str]) -> ir.Table:
    """Per `keys` group, `_t1`.. `_t4`: the k_s-th smallest non-null `column` value for
    k_s = ceil(n * s / 5). Order statistics from two small histograms: counts per coarse
    bucket (BUCKET_EDGES) locate the bucket each k_s falls in, then exact counts of the
    values inside just those buckets give the value."""
    value = table[column]
    rows = table.filter(value.notnull()).select(
        *keys, column, _b=cv.count_at_or_before(value, list(BUCKET_EDGES)))
    coarse = rows.group_by([*keys, "_b"]).aggregate(_c=rows.count())
    group = [coarse[k] for k in keys]
    coarse = coarse.mutate(
        _upto=coarse._c.sum().over(ibis.cumulative_window(group_by=group, order_by=coarse._b)),
        _n=coarse._c.sum().over(ibis.window(group_by=group)))
    below = coarse._upto - coarse._c
    targets = []
    for s in range(1, 5):
        k = (coarse._n.cast("float64") * s / 5).ceil().cast("int64")  # exact: n * s is whole
        hit = coarse.filter((below < k) & (k <= coarse._upto))
        targets.append(hit.select(*keys, "_b", _s=ibis.literal(s, type="int64"),
                                  _j=k - below))  # k's position inside the bucket
    wanted = ibis.union(*targets, distinct=False)
    # the (at most four) buckets of each group as columns of one row per group, joined on
    # the group and compared: a hash table of a row per group, where a semi-join on
    # (group, bucket) was planned with its hash table on every row
    four = {f"_w{s}": ibis.ifelse(wanted._s == s, wanted._b, ibis.null()).max()
            for s in range(1, 5)}
    per_group = wanted.group_by(keys).aggregate(**four) if keys else wanted.aggregate(**four)
    if keys:
        per_group = per_group.rename({f"_g{k}": k for k in keys})
        near = rows.inner_join(per_group, [rows[k] == per_group[f"_g{k}"] for k in keys])
    else:
        near = rows.cross_join(per_group)
    inside = near.filter((near._b == near._w1) | (near._b == near._w2)
                         | (near._b == near._w3) | (near._b == near._w4))
    inside = inside.select(*keys, column, "_b")
    fine = inside.group_by([*keys, "_b", column]).aggregate(_c=inside.count())
    fine = fine.mutate(_upto=fine._c.sum().over(ibis.cumulative_window(
        group_by=[fine[k] for k in [*keys, "_b"]], order_by=fine[column])))
    renamed = wanted.rename({f"_w{c}": c for c in [*keys, "_b"]})
    picked = fine.inner_join(renamed, [fine[c] == renamed[f"_w{c}"] for c in [*keys, "_b"]])
    picked = picked.filter((picked._upto - picked._c < picked._j) & (picked._j <= picked._upto))
    cut = {f"_t{s}": ibis.ifelse(picked._s == s, picked[column], ibis.null()).max()
           for s in range(1, 5)}
    return picked.group_by(keys).aggregate(**cut) if keys else picked.aggregate(**cut)
