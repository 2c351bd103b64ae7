"""The month-by-month view: one row per metric, one column per month, grouped as the catalogue is.

Each row carries its value per month, its change against the previous month
and against the same month a year before (both read from the same series,
which starts twelve months before the first column), and the points of its
trend line. A metric whose answer is a table with no headline number (the
channel mix, the RFM segments) gets one row per item when it has few; the
others point to their chart or to `clientela kpi`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clientela.metrics.api import Metric
from clientela.report.gather import YEAR, MonthlyData
from clientela.report.labels import group_title, metric_title, text
from clientela.report.values import Change, change, format_change, format_value

MAX_ITEM_ROWS = 12
"""A table-shaped metric with at most this many items gets a row per item."""

CHARTED: dict[str, str] = {
    "cohort_retention": "chart_cohorts",
    "campaign_lift": "chart_campaigns",
    "rfm_segments": "chart_rfm_grid",
    "channel_mix": "chart_channel_mix",
}
"""Table-shaped metrics that a chart of the report shows."""

OWN_CHART = ("cohort_retention", "campaign_lift")
"""Their items change with the period (cohorts, campaigns): a chart, never a row per item."""


@dataclass(frozen=True)
class Cell:
    period: str
    value: float | None
    text: str
    vs_previous: str
    vs_year_ago: str


@dataclass
class Row:
    metric: Metric
    title: str
    item: str | None = None
    cells: list[Cell] = field(default_factory=list)
    trend: list[float | None] = field(default_factory=list)
    last_vs_previous: Change | None = None
    last_vs_year_ago: Change | None = None
    last_vs_previous_text: str = ""
    last_vs_year_ago_text: str = ""
    note: str | None = None
    """Set instead of cells: why the row has no numbers."""
    missing: bool = False
    heading: bool = False
    """The title line above a table-shaped metric's item rows."""


@dataclass
class Group:
    title: str
    rows: list[Row]


def _values(rows: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, float | None]]:
    """(metric, item) -> period -> the 'value' measure."""
    found: dict[tuple[str, str | None], dict[str, float | None]] = {}
    for row in rows:
        if row["measure"] == "value":
            found.setdefault((row["metric"], row["item"]), {})[row["period"]] = row["value"]
    return found


def _row(metric: Metric, title: str, item: str | None, by_period: dict[str, float | None],
         labels: list[str], history: list[str], lang: str, currency: str) -> Row:
    unit = "ratio" if metric.name == "channel_mix" else metric.unit
    if unit == "table":
        unit = "count"
    row = Row(metric, title, item)
    all_labels = history + labels
    for index, label in enumerate(labels):
        value = by_period.get(label)
        position = len(history) + index
        previous = by_period.get(all_labels[position - 1]) if position >= 1 else None
        year_ago = by_period.get(all_labels[position - YEAR]) if position >= YEAR else None
        vs_previous, vs_year = change(previous, value, unit), change(year_ago, value, unit)
        row.cells.append(Cell(label, value, format_value(value, unit, lang, currency),
                              format_change(vs_previous, lang), format_change(vs_year, lang)))
        row.trend.append(value)
        if index == len(labels) - 1:
            row.last_vs_previous, row.last_vs_year_ago = vs_previous, vs_year
            row.last_vs_previous_text = format_change(vs_previous, lang)
            row.last_vs_year_ago_text = format_change(vs_year, lang)
    return row


def build_groups(data: MonthlyData, lang: str, currency: str) -> list[Group]:
    labels = data.window.labels
    history = data.window.widened(YEAR).labels[:YEAR]
    values = _values(data.rows)
    missing = {m.metric.name: m for m in data.missing}
    failed = {f.metric.name: f for f in data.failed}
    known = {m.name for m in data.metrics} | set(missing)
    every = catalogue_order([*data.metrics, *(m.metric for m in data.missing),
                             *(f.metric for f in data.failed if f.metric.name not in known)])
    groups: dict[str, Group] = {}
    for metric in every:
        group = groups.setdefault(metric.group, Group(group_title(metric.group, lang), []))
        title = metric_title(metric, lang)
        if metric.name in missing:
            group.rows.append(Row(metric, title, missing=True, note=text(
                lang, "missing_needs", table=missing[metric.name].table)))
            continue
        if metric.name in failed and not failed[metric.name].periods:
            group.rows.append(Row(metric, title, note=text(
                lang, "failed", reason=failed[metric.name].reason)))
            continue
        if (metric.name, None) in values:
            group.rows.append(_row(metric, title, None, values[(metric.name, None)], labels,
                                   history, lang, currency))
        items = sorted({item for (name, item) in values if name == metric.name and item})
        shown = [item for item in items
                 if any(values[(metric.name, item)].get(label) is not None for label in labels)]
        if (metric.name, None) in values:
            continue
        if metric.name not in OWN_CHART and 0 < len(shown) <= MAX_ITEM_ROWS:
            group.rows.append(Row(metric, title, heading=True))
            for item in shown:
                group.rows.append(_row(metric, item, item,
                                       values[(metric.name, item)], labels, history, lang,
                                       currency))
        elif metric.name in CHARTED:
            group.rows.append(Row(metric, title, note=text(
                lang, "in_chart", chart=text(lang, CHARTED[metric.name]))))
        else:
            group.rows.append(Row(metric, title, note=text(lang, "table_shaped",
                                                            name=metric.name)))
    return list(groups.values())


def catalogue_order(metrics: list[Metric]) -> list[Metric]:
    """Registry order (the catalogue's own, sections in the order their first metric is
    registered); a metric given from outside the registry goes last."""
    from clientela.plugins import registry

    registered = {name: index for index, name in enumerate(registry().metrics)}
    return sorted(metrics, key=lambda m: registered.get(m.name, len(registered)))
