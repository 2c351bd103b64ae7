"""The report's pictures, as Vega-Altair specifications.

Each function takes numbers the engine already computed and returns a
`ChartSpec` (or None when the store has nothing to draw), so charts are
data in, spec out: rendering (SVG for the page, PNG for slides) is
`clientela.report.render`'s job. Data is inlined as plain records, which
keeps the spec, and therefore the SVG, the same for the same store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np

from clientela.report.gather import YEAR, ReportData, RfmGrid
from clientela.report.labels import metric_title, text

WIDTH = 560
PALETTE = ["#2f6fb0", "#e07b39", "#3a9d6a", "#c2455b", "#8a63b8", "#7f7f7f", "#b39b2d",
           "#3aa6b9", "#d67fb4", "#5c6f2e"]
SEGMENT_COLOURS: dict[str, str] = {
    "Champions": "#1b7a3e", "Loyal": "#3a9d5d", "Potential Loyalist": "#7cbf7a",
    "New": "#2a8fa8", "Promising": "#68b6c8", "Need Attention": "#c9a227",
    "About To Sleep": "#d9822b", "At Risk": "#c8553d", "Cannot Lose Them": "#9e2a2b",
    "Hibernating": "#8c8fa3", "Lost": "#5f6270",
}
"""The default RFM segments, green (best) through amber (slipping) to red and grey (gone);
a segment of a user's own table gets the next colour of the palette."""
LOYALTY = ("loyalty_members_with_points", "loyalty_redeemable_members",
           "loyalty_discount_granted", "loyalty_redemption_visits",
           "loyalty_redemption_day_spend", "loyalty_scored_share")


@dataclass(frozen=True)
class ChartSpec:
    name: str
    """File-name-safe identifier: the images are NAME.svg and NAME.png."""
    title: str
    spec: dict[str, Any]


def spec_of(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    spec.pop("$schema", None)
    return spec


def records_chart(records: Sequence[dict[str, Any]]) -> alt.Chart:
    return alt.Chart(alt.Data(values=list(records)))  # type: ignore[no-untyped-call]


def _values(data: ReportData, metric: str, item: str | None = None) -> dict[str, float | None]:
    return {row["period"]: row["value"] for row in data.monthly.rows
            if row["metric"] == metric and row["measure"] == "value" and row["item"] == item}


MONEY = "$,.0f"
"""Axis format of money: the currency symbol of the page's locale, whole units."""


def year_over_year(data: ReportData, metric: str, lang: str, name: str) -> ChartSpec | None:
    """The window's months, and the same months a year before, as two lines."""
    by_period = _values(data, metric)
    if not any(by_period.get(label) is not None for label in data.window.labels):
        return None
    everything = data.window.widened(YEAR).labels
    this, before = text(lang, "this_year"), text(lang, "year_before")
    records = []
    for index, label in enumerate(data.window.labels):
        records.append({"month": label, "series": this, "value": by_period.get(label)})
        records.append({"month": label, "series": before,
                        "value": by_period.get(everything[index])})
    records = [r for r in records if r["value"] is not None]
    money = metric == "revenue"
    chart = records_chart(records).mark_line(point=True, strokeWidth=2).encode(
        x=alt.X("month:O", title=None, sort=data.window.labels, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("value:Q", title=text(lang, metric),
                axis=alt.Axis(format=MONEY if money else ",.0f")),
        color=alt.Color("series:N", title=None, sort=[this, before],
                        scale=alt.Scale(range=[PALETTE[0], "#a9b7c6"]),
                        legend=alt.Legend(orient="top")),
        strokeDash=alt.StrokeDash("series:N", sort=[this, before], legend=None,
                                  scale=alt.Scale(range=[[1, 0], [4, 3]])),
    ).properties(width=WIDTH, height=220)
    return ChartSpec(name, text(lang, f"chart_{metric}"), spec_of(chart))


def channel_mix(data: ReportData, lang: str) -> ChartSpec | None:
    records = [{"month": row["period"], "channel": row["item"], "share": row["value"]}
               for row in data.monthly.rows
               if row["metric"] == "channel_mix" and row["measure"] == "value"
               and row["item"] is not None and row["period"] in data.window.labels
               and row["value"] is not None]
    if not records:
        return None
    chart = records_chart(records).mark_bar().encode(
        x=alt.X("month:O", title=None, sort=data.window.labels, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("share:Q", title=text(lang, "share"), stack="normalize",
                axis=alt.Axis(format=".0%")),
        color=alt.Color("channel:N", title=text(lang, "channel"),
                        scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="top")),
        order=alt.Order("channel:N"),
    ).properties(width=WIDTH, height=220)
    return ChartSpec("channel_mix", text(lang, "chart_channel_mix"), spec_of(chart))


def rfm_grid(grid: RfmGrid, lang: str) -> ChartSpec | None:
    """R (rows, 5 on top) by FM (columns): customers per cell, named by segment."""
    if not grid.cells:
        return None
    records = [{"r": c["r"], "fm": c["fm"], "segment": c["segment"],
                "customers": int(c["customers"])} for c in grid.cells]
    base = records_chart(records).encode(
        x=alt.X("fm:O", title="FM", sort=[1, 2, 3, 4, 5], axis=alt.Axis(labelAngle=0)),
        y=alt.Y("r:O", title="R", sort=[5, 4, 3, 2, 1]),
    )
    names_seen = sorted({c["segment"] for c in grid.cells})
    extra = iter(PALETTE)
    colours = [SEGMENT_COLOURS.get(name) or next(extra, "#9c755f") for name in names_seen]
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("segment:N", title=text(lang, "segment"),
                        scale=alt.Scale(domain=names_seen, range=colours),
                        legend=None),
    )
    names = base.mark_text(baseline="bottom", dy=-1, fontSize=10, color="white").encode(
        text="segment:N")
    counts = base.mark_text(baseline="top", dy=2, fontSize=13, fontWeight="bold",
                            color="white").encode(text=alt.Text("customers:Q", format=",d"))
    chart = (cells + names + counts).properties(width=440, height=330)
    return ChartSpec("rfm_grid", f"{text(lang, 'chart_rfm_grid')} · {grid.as_of_label}",
                     spec_of(chart))


def rfm_moves(grid: RfmGrid, lang: str) -> ChartSpec | None:
    if not grid.moves:
        return None
    none = text(lang, "new_customer")
    records = [{"from": m["from_segment"] or none, "to": m["to_segment"],
                "customers": int(m["customers"])} for m in grid.moves]
    base = records_chart(records).encode(
        x=alt.X("to:N", title=text(lang, "to_segment"), axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("from:N", title=text(lang, "from_segment")),
    )
    chart = (base.mark_rect().encode(
        color=alt.Color("customers:Q", title=text(lang, "customers"),
                        scale=alt.Scale(type="log", scheme="blues")))
        + base.mark_text(fontSize=10).encode(
            text=alt.Text("customers:Q", format=",d"),
            color=alt.condition(alt.datum.customers > 500, alt.value("white"),
                                alt.value("#222")))
    ).properties(width=WIDTH, height=330)
    return ChartSpec("rfm_moves", text(lang, "chart_rfm_moves"), spec_of(chart))


def cohorts(data: ReportData, lang: str) -> ChartSpec | None:
    cells = [c for c in data.cohorts if c.get("value") is not None]
    if not cells:
        return None
    records = [{"cohort": c["cohort"], "month": c["month"], "share": c["value"],
                "label": f"{round(c['value'] * 100):d}"} for c in cells]
    base = records_chart(records).encode(
        x=alt.X("month:O", title=text(lang, "months_after"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title=text(lang, "cohort")),
    )
    chart = (base.mark_rect().encode(
        color=alt.Color("share:Q", title="%", scale=alt.Scale(scheme="greens", domain=[0, 0.5],
                                                              clamp=True),
                        legend=alt.Legend(format=".0%")))
        + base.mark_text(fontSize=9).encode(
            text="label:N",
            color=alt.condition(alt.datum.share > 0.3, alt.value("white"), alt.value("#222")))
    ).properties(width=WIDTH, height=max(120, 22 * len({c["cohort"] for c in cells})))
    return ChartSpec("cohort_retention", text(lang, "chart_cohorts"), spec_of(chart))


def campaigns(data: ReportData, lang: str) -> ChartSpec | None:
    rows = [c for c in data.campaigns if c.get("conversion_low") is not None
            and c.get("conversion_high") is not None]
    if not rows:
        return None
    records = [{"campaign": f"{c['campaign']} · {c['channel']}", "channel": c["channel"],
                "lift": c["value"], "low": c["conversion_low"], "high": c["conversion_high"]}
               for c in rows]
    order = [r["campaign"] for r in records]
    base = records_chart(records).encode(y=alt.Y("campaign:N", title=None, sort=order))
    color = alt.Color("channel:N", title=text(lang, "channel"),
                      scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="top"))
    chart = (
        records_chart([{"zero": 0}]).mark_rule(color="#888").encode(x="zero:Q")
        + base.mark_rule(strokeWidth=2).encode(
            x=alt.X("low:Q", title=text(lang, "lift"), axis=alt.Axis(format="+.0%")),
            x2="high:Q", color=color)
        + base.mark_point(filled=True, size=40).encode(x="lift:Q", color=color)
    ).properties(width=WIDTH - 80, height=max(120, 13 * len(records)))
    return ChartSpec("campaign_lift", text(lang, "chart_campaigns"), spec_of(chart))


def loyalty(data: ReportData, lang: str) -> ChartSpec | None:
    from clientela.plugins import registry

    catalog = registry().metrics
    panels = []
    for name in LOYALTY:
        by_period = _values(data, name)
        records = [{"month": label, "value": by_period.get(label)}
                   for label in data.window.labels if by_period.get(label) is not None]
        if name not in catalog or not records:
            continue
        unit = catalog[name].unit
        fmt = ".0%" if unit == "ratio" else (MONEY if unit == "currency" else ",.0f")
        panels.append(records_chart(records).mark_area(
            line={"color": PALETTE[2]}, color=PALETTE[2], opacity=0.25).encode(
            x=alt.X("month:O", title=None, sort=data.window.labels,
                    axis=alt.Axis(labelAngle=-60, labelFontSize=8)),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=fmt)),
        ).properties(width=240, height=110, title=metric_title(catalog[name], lang)))
    if not panels:
        return None
    rows = [alt.hconcat(*panels[i:i + 2]) for i in range(0, len(panels), 2)]
    return ChartSpec("loyalty", text(lang, "chart_loyalty"), spec_of(alt.vconcat(*rows)))


def clv_distribution(data: ReportData, lang: str) -> ChartSpec | None:
    if not data.clv:
        return None
    values = np.asarray(data.clv, dtype=np.float64)
    top = float(np.quantile(values, 0.99))
    step = _nice_step(top / 20)
    edges = np.arange(0.0, top + step, step)
    counts, _ = np.histogram(np.clip(values, 0, edges[-1] - 1e-9), bins=edges)
    records = [{"from": float(lo), "to": float(hi), "customers": int(n)}
               for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)]
    chart = records_chart(records).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("from:Q", bin="binned", title=text(lang, "clv"),
                axis=alt.Axis(format=MONEY)),
        x2="to:Q",
        y=alt.Y("customers:Q", title=text(lang, "customers")),
    ).properties(width=WIDTH, height=200)
    return ChartSpec("clv_distribution", text(lang, "chart_clv"), spec_of(chart))


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** np.floor(np.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def p_alive(data: ReportData, lang: str) -> ChartSpec | None:
    rows = [r for r in data.p_alive_by_segment if r["p_alive"] is not None]
    if not rows:
        return None
    chart = records_chart(rows).mark_bar(color=PALETTE[1]).encode(
        y=alt.Y("segment:N", title=None, sort="-x"),
        x=alt.X("p_alive:Q", title=text(lang, "p_alive"), axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1])),
    ).properties(width=WIDTH - 120, height=260)
    return ChartSpec("p_alive_by_segment", text(lang, "chart_p_alive"), spec_of(chart))


def monthly_charts(data: ReportData, lang: str) -> list[ChartSpec]:
    """Every picture of the monthly report, in page order, leaving out those without data."""
    found = [
        year_over_year(data, "revenue", lang, "revenue_by_month"),
        year_over_year(data, "orders", lang, "orders_by_month"),
        channel_mix(data, lang),
        rfm_grid(data.rfm, lang) if data.rfm else None,
        rfm_moves(data.rfm, lang) if data.rfm else None,
        cohorts(data, lang),
        campaigns(data, lang),
        loyalty(data, lang),
        clv_distribution(data, lang),
        p_alive(data, lang),
    ]
    return [chart for chart in found if chart is not None]
