"""The before/after page: every metric in two periods, and the charts side by side.

The numbers are the engine's own comparison (`compute(..., compare=...)`),
the same `clientela kpi --compare` prints: both values, the absolute change
and the relative change (change / |before|).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt

from clientela.kpi import compute
from clientela.metrics.api import Metric
from clientela.report.charts import MONEY, PALETTE, ChartSpec, records_chart, spec_of
from clientela.report.gather import Failed, Missing, Timings, compute_available
from clientela.report.labels import group_title, metric_title, text
from clientela.report.monthly import MAX_ITEM_ROWS, OWN_CHART, catalogue_order
from clientela.report.values import (
    MINUS,
    NOTHING,
    Change,
    change,
    format_change,
    format_value,
    tone,
)
from clientela.report.window import Window, month_label


def window_label(window: Window) -> str:
    last = window.months[-1]
    first = month_label(window.start)
    return first if first == month_label(last) else f"{first}..{month_label(last)}"


@dataclass
class CompareData:
    before: Window
    after: Window
    metrics: list[Metric]
    missing: list[Missing]
    rows: list[dict[str, Any]]
    failed: list[Failed] = field(default_factory=list)
    revenue: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """'before'/'after' -> revenue per month of that window."""
    timings: Timings = field(default_factory=Timings)


def gather_compare(source: Any, catalog: Sequence[Metric], before: Window, after: Window, *,
                   timezone: str, currency: str) -> CompareData:
    timings = Timings()
    with timings.section("comparison KPIs"):
        answer = compute_available(
            source, catalog, compare=((month_label(before.start), month_label(before.end)),
                                      (month_label(after.start), month_label(after.end))),
            timezone=timezone, currency=currency)
    dropped = {m.metric.name for m in answer.missing}
    data = CompareData(before, after, [m for m in catalog if m.name not in dropped],
                       answer.missing, answer.rows, failed=answer.failed, timings=timings)
    if "revenue" not in dropped and any(m.name == "revenue" for m in catalog):
        with timings.section("revenue by month"):
            for side, window in (("before", before), ("after", after)):
                series = compute(source, ["revenue"], start=month_label(window.start),
                                 end=month_label(window.end), grain="month",
                                 timezone=timezone, currency=currency)
                data.revenue[side] = [{"month": r["period"], "value": r["value"]}
                                      for r in series.rows() if r["measure"] == "value"]
    return data


def compare_groups(data: CompareData, lang: str, currency: str) -> list[dict[str, Any]]:
    """Rows of the comparison table, grouped as the catalogue is."""
    headline = {(r["metric"], r["item"]): r for r in data.rows if r["measure"] == "value"}
    missing = {m.metric.name: m for m in data.missing}
    failed = {f.metric.name: f for f in data.failed}
    groups: dict[str, dict[str, Any]] = {}
    for metric in catalogue_order([*data.metrics, *(m.metric for m in data.missing)]):
        group = groups.setdefault(metric.group, {"title": group_title(metric.group, lang),
                                                 "rows": []})
        title = metric_title(metric, lang)
        if metric.name in missing:
            group["rows"].append({"metric": metric, "title": title, "missing": True,
                                  "note": text(lang, "missing") + ": " + text(
                                      lang, "missing_needs", table=missing[metric.name].table)})
            continue
        if metric.name in failed:
            group["rows"].append({"metric": metric, "title": title, "missing": False,
                                  "note": text(lang, "failed",
                                               reason=failed[metric.name].reason)})
            continue
        keys = [(metric.name, None)] if (metric.name, None) in headline else sorted(
            (key for key in headline if key[0] == metric.name and key[1] is not None),
            key=lambda key: str(key[1]))
        if not keys or len(keys) > MAX_ITEM_ROWS or (keys[0][1] is not None
                                                     and metric.name in OWN_CHART):
            group["rows"].append({"metric": metric, "title": title, "missing": False,
                                  "note": text(lang, "table_shaped", name=metric.name)})
            continue
        unit = "ratio" if metric.name == "channel_mix" else (
            "count" if metric.unit == "table" else metric.unit)
        for key in keys:
            row = headline[key]
            found = change(row["before"], row["after"], unit)
            group["rows"].append({
                "metric": metric, "item": key[1], "missing": False, "note": None,
                "title": title if key[1] is None else f"{title} · {key[1]}",
                "before": format_value(row["before"], unit, lang, currency),
                "after": format_value(row["after"], unit, lang, currency),
                "before_raw": _raw(row["before"]), "after_raw": _raw(row["after"]),
                "change": _absolute(row["change"], unit, lang, currency),
                "relative": format_change(Change(row["relative_change"], False), lang),
                "direction": tone(found, metric.name),
            })
    return list(groups.values())


def _raw(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _absolute(value: float | None, unit: str, lang: str, currency: str) -> str:
    if value is None:
        return NOTHING
    sign = "+" if value > 0 else (MINUS if value < 0 else "")
    if unit == "ratio":
        return format_change(change(0.0, value, "ratio"), lang)
    return sign + format_value(abs(value), unit, lang, currency)


def _side_bars(records: list[dict[str, Any]], x: str, y: str, *, sort: Any, fmt: str,
               top: float, color: str, horizontal: bool = False, title: str = "") -> dict[str, Any]:
    scale = alt.Scale(domain=[0, top])
    if horizontal:
        chart = records_chart(records).mark_bar(color=color).encode(
            y=alt.Y(f"{x}:N", title=None, sort=sort),
            x=alt.X(f"{y}:Q", title=title, axis=alt.Axis(format=fmt), scale=scale),
        ).properties(width=300, height=max(120, 18 * len(records)))
    else:
        chart = records_chart(records).mark_bar(color=color).encode(
            x=alt.X(f"{x}:O", title=None, sort=sort, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y(f"{y}:Q", title=title, axis=alt.Axis(format=fmt), scale=scale),
        ).properties(width=360, height=200)
    return spec_of(chart)


def compare_pairs(data: CompareData, lang: str) -> list[tuple[str, str, ChartSpec, ChartSpec]]:
    """(name, title, before chart, after chart), each pair on one scale."""
    pairs: list[tuple[str, str, ChartSpec, ChartSpec]] = []
    if data.revenue.get("before") and data.revenue.get("after"):
        top = max(r["value"] or 0 for side in data.revenue.values() for r in side) or 1.0
        specs = [ChartSpec(f"compare_revenue_{side}", text(lang, "chart_compare_revenue"),
                           _side_bars(data.revenue[side], "month", "value",
                                      sort=[r["month"] for r in data.revenue[side]],
                                      fmt=MONEY, top=top, color=PALETTE[0],
                                      title=text(lang, "revenue")))
                 for side in ("before", "after")]
        pairs.append(("compare_revenue", text(lang, "chart_compare_revenue"), specs[0],
                      specs[1]))
    for metric, name, fmt, color, title in (
            ("channel_mix", "compare_channel_mix", ".0%", PALETTE[1], text(lang, "share")),
            ("rfm_segments", "compare_segments", ",d", PALETTE[2], text(lang, "customers"))):
        items = [r for r in data.rows if r["metric"] == metric and r["measure"] == "value"
                 and r["item"] is not None]
        if not items:
            continue
        order = sorted({r["item"] for r in items})
        top = max(max(r["before"] or 0, r["after"] or 0) for r in items) or 1.0
        specs = [ChartSpec(f"{name}_{side}", text(lang, f"chart_{name}"),
                           _side_bars([{"item": r["item"], "value": r[side]} for r in items
                                       if r[side] is not None],
                                      "item", "value", sort=order, fmt=fmt, top=top,
                                      color=color, horizontal=True, title=title))
                 for side in ("before", "after")]
        pairs.append((name, text(lang, f"chart_{name}"), specs[0], specs[1]))
    return pairs
