"""The HTML page: one file, every chart inline as SVG, no script, no fetch.

Jinja2 (autoescaping) writes the page from `templates/report.html.j2`. The
only thing that differs between two runs on the same store is the
generation time, which sits in one `<time id="generated">` element.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from jinja2 import Environment, PackageLoader, select_autoescape

from clientela import __version__
from clientela.formatting import locale_of
from clientela.metrics.api import Metric
from clientela.report.charts import ChartSpec
from clientela.report.gather import Failed
from clientela.report.labels import TEXT, metric_title, text
from clientela.report.monthly import Group
from clientela.report.render import inline_svg, sparkline, to_svg
from clientela.report.values import tone


@dataclass(frozen=True)
class Header:
    store: str
    period: str
    timezone: str
    currency: str
    generated_at: datetime
    """An aware instant; shown in the workspace's time zone."""


def _environment() -> Environment:
    return Environment(loader=PackageLoader("clientela.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True)


def _raw(value: float | None) -> str:
    """The exact number behind a cell, for a reader (or a test) that wants it unrounded."""
    return "" if value is None else repr(float(value))


def _month_header(label: str, lang: str) -> dict[str, str]:
    month = datetime.strptime(label, "%Y-%m").date()
    return {"label": label, "short": format_date(month, "LLL", locale=locale_of(lang)),
            "year": str(month.year)}


def _notes(metrics: list[Metric], lang: str, failed: list[Failed] | None = None
           ) -> tuple[list[dict[str, str]], dict[str, int]]:
    """One footnote per metric: its catalogue description, and the months it could not be
    computed for, if any."""
    partly = {f.metric.name: f for f in failed or [] if f.periods}
    notes: list[dict[str, str]] = []
    index: dict[str, int] = {}
    for metric in metrics:
        if metric.name in index:
            continue
        index[metric.name] = len(notes) + 1
        description = metric.description
        if metric.name in partly:
            found = partly[metric.name]
            description += " " + text(lang, "failed_months", months=", ".join(found.periods),
                                      reason=found.reason)
        notes.append({"name": metric.name, "title": metric_title(metric, lang),
                      "description": description})
    return notes, index


def _row_view(row: Any) -> dict[str, Any]:
    return {
        "metric": row.metric, "title": row.title, "item": row.item, "note": row.note,
        "missing": row.missing, "heading": row.heading, "spark": sparkline(row.trend),
        "cells": [{"period": c.period, "raw": _raw(c.value), "text": c.text,
                   "vs_previous": c.vs_previous, "vs_year_ago": c.vs_year_ago}
                  for c in row.cells],
        "last_vs_previous_text": row.last_vs_previous_text,
        "last_vs_year_ago_text": row.last_vs_year_ago_text,
        "previous_direction": tone(row.last_vs_previous, row.metric.name),
        "year_direction": tone(row.last_vs_year_ago, row.metric.name),
    }


def _common(header: Header, lang: str) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    local = header.generated_at.astimezone(ZoneInfo(header.timezone))
    return {
        "lang": lang, "version": __version__, "t": TEXT[lang], "store": header.store,
        "period": header.period, "timezone": header.timezone, "currency": header.currency,
        "generated": format_datetime(local, "medium", locale=locale_of(lang)),
        "generated_iso": header.generated_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


def svg_for(chart: ChartSpec, lang: str, currency: str) -> str:
    return inline_svg(to_svg(chart, lang, currency), chart.name)


def monthly_page(header: Header, labels: list[str], groups: list[Group],
                 charts: list[tuple[ChartSpec, str]], lang: str,
                 failed: list[Failed] | None = None) -> str:
    """`charts`: each spec with its SVG already rendered (the images reuse them)."""
    metrics = [row.metric for group in groups for row in group.rows]
    notes, index = _notes(metrics, lang, failed)
    missing = [row.title for group in groups for row in group.rows if row.missing]
    return _environment().get_template("report.html.j2").render(
        **_common(header, lang), heading=text(lang, "report"), compare=None,
        months=[_month_header(label, lang) for label in labels],
        groups=[{"title": g.title, "rows": [_row_view(r) for r in g.rows]} for g in groups],
        charts=[{"name": c.name, "title": c.title, "svg": inline_svg(svg, c.name)}
                for c, svg in charts],
        missing=missing, notes=notes, notes_index=index)


def compare_page(header: Header, before: str, after: str, groups: list[dict[str, Any]],
                 pairs: list[tuple[str, str, str, str]], lang: str) -> str:
    """`pairs`: (name, title, before SVG, after SVG)."""
    metrics = [row["metric"] for group in groups for row in group["rows"]]
    notes, index = _notes(metrics, lang)
    return _environment().get_template("report.html.j2").render(
        **_common(header, lang), heading=text(lang, "compare_report"),
        compare={"before": before, "after": after, "groups": groups,
                 "pairs": [{"name": name, "title": title,
                            "before": inline_svg(b, f"{name}-before"),
                            "after": inline_svg(a, f"{name}-after")}
                           for name, title, b, a in pairs]},
        notes=notes, notes_index=index)
