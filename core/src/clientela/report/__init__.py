"""The monthly metrics report: one self-contained HTML file (and the live page of `serve`).

    >>> from clientela.report import ReportRequest, build_report
    >>> report = build_report(store, ReportRequest(lang="pt-BR", timezone="America/Sao_Paulo"))
    >>> Path("report.html").write_text(report.html, encoding="utf-8")

Every number comes from `clientela.kpi.compute` and the registry (metrics,
the RFM segmenter); the charts are Vega-Altair specs rendered to inline SVG
by vl-convert, so the page runs no script and fetches nothing. See
docs/report.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clientela.formatting import locale_of
from clientela.report.charts import ChartSpec, monthly_charts
from clientela.report.compare import (
    compare_groups,
    compare_pairs,
    gather_compare,
    window_label,
)
from clientela.report.gather import ReportData, Timings, gather
from clientela.report.monthly import build_groups
from clientela.report.page import Header, compare_page, monthly_page
from clientela.report.render import to_png, to_svg
from clientela.report.window import ReportWindowError, Window, parse_compare, resolve_window

__all__ = [
    "Report",
    "ReportRequest",
    "ReportWindowError",
    "build_report",
    "gather_monthly_report",
    "parse_compare",
    "render_monthly",
    "write_images",
]


@dataclass(frozen=True)
class ReportRequest:
    lang: str = "en"
    timezone: str = "UTC"
    currency: str = "BRL"
    store_name: str = "clientela"
    start: str | None = None
    """First month (YYYY-MM); default: 13 months before `end`."""
    end: str | None = None
    """The month after the last one (half-open, like `compute`'s `end`: 2026-01 ends with
    December 2025); default: the month after the latest order's."""
    compare: str | None = None
    """`BEFORE_FROM:BEFORE_TO,AFTER_FROM:AFTER_TO`: the before/after page instead."""
    generated_at: datetime | None = None
    """Fixed in tests; default: now."""


@dataclass
class Report:
    html: str
    charts: list[tuple[ChartSpec, str]]
    """Each chart and its SVG, for `write_images`."""
    timings: Timings = field(default_factory=Timings)
    lang: str = "en"
    currency: str = "BRL"


def build_report(source: Any, request: ReportRequest) -> Report:
    """The report for a Store (or an Ibis backend)."""
    locale_of(request.lang)  # an unknown language is refused before any work
    generated = request.generated_at or datetime.now(UTC)
    if request.compare:
        before, after = parse_compare(request.compare)
        return _compare(source, request, before, after, generated)
    return render_monthly(gather_monthly_report(source, request), request)


def gather_monthly_report(source: Any, request: ReportRequest) -> ReportData:
    """The numbers of the monthly report, to render in one language or several."""
    from clientela.kpi.engine import backend_of

    window = resolve_window(backend_of(source), request.timezone, request.start, request.end)
    return gather(source, window, timezone=request.timezone, currency=request.currency)


def render_monthly(data: ReportData, request: ReportRequest) -> Report:
    """The monthly page of gathered numbers, in `request.lang`."""
    locale_of(request.lang)
    generated = request.generated_at or datetime.now(UTC)
    timings = Timings(dict(data.timings.seconds))
    with timings.section("charts"):
        charts = [(chart, to_svg(chart, request.lang, request.currency))
                  for chart in monthly_charts(data, request.lang)]
    with timings.section("page"):
        groups = build_groups(data.monthly, request.lang, request.currency)
        header = Header(request.store_name, _period(data.window), request.timezone,
                        request.currency, generated)
        html = monthly_page(header, data.window.labels, groups, charts, request.lang,
                            data.monthly.failed)
    return Report(html, charts, timings, request.lang, request.currency)


def _period(window: Window) -> str:
    return window_label(window)


def _compare(source: Any, request: ReportRequest, before: Window, after: Window,
             generated: datetime) -> Report:
    from clientela.plugins import registry

    data = gather_compare(source, list(registry().metrics.values()), before, after,
                          timezone=request.timezone, currency=request.currency)
    timings = data.timings
    with timings.section("charts"):
        pairs = compare_pairs(data, request.lang)
        rendered = [(name, title, to_svg(b, request.lang, request.currency),
                     to_svg(a, request.lang, request.currency), b, a)
                    for name, title, b, a in pairs]
    with timings.section("page"):
        groups = compare_groups(data, request.lang, request.currency)
        header = Header(request.store_name, f"{window_label(before)} → {window_label(after)}",
                        request.timezone, request.currency, generated)
        html = compare_page(header, window_label(before), window_label(after), groups,
                            [(n, t, b, a) for n, t, b, a, _, _ in rendered], request.lang)
    charts = [pair for *_, b_svg, a_svg, b, a in rendered
              for pair in ((b, b_svg), (a, a_svg))]
    return Report(html, charts, timings, request.lang, request.currency)


def write_images(report: Report, folder: Path) -> list[Path]:
    """NAME.svg and NAME.png for every chart of the report (for e-mails and slides)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for chart, svg in report.charts:
        svg_path = folder / f"{chart.name}.svg"
        svg_path.write_text(svg, encoding="utf-8")
        png_path = folder / f"{chart.name}.png"
        png_path.write_bytes(to_png(chart, report.lang, report.currency))
        written += [svg_path, png_path]
    return written
