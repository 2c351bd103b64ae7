"""Charts to SVG and PNG with vl-convert, and the trend lines of the monthly table.

vl-convert runs Vega in an embedded engine, so a chart becomes a static SVG
without a browser or any JavaScript on the page; the same spec gives the
same bytes. Numbers on the axes follow the report's language (decimal and
group separators and the currency symbol, from Babel's CLDR data).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import vl_convert
from babel.numbers import get_currency_symbol, get_decimal_symbol, get_group_symbol

from clientela.formatting import locale_of
from clientela.report.charts import ChartSpec

FONT = "Helvetica, Arial, sans-serif"
CONFIG: dict[str, Any] = {
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelColor": "#444", "titleColor": "#444", "gridColor": "#e8e8e8",
             "domainColor": "#999", "tickColor": "#999", "labelFontSize": 11,
             "titleFontSize": 11, "titleFontWeight": "normal"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal"},
    "title": {"fontSize": 12, "fontWeight": "normal", "anchor": "start"},
}
_ID = re.compile(r'\bid="([^"]+)"')


def format_locale(lang: str, currency: str) -> dict[str, Any]:
    """A d3-format locale for the language, with the currency's symbol before the amount."""
    locale = locale_of(lang)
    symbol = get_currency_symbol(currency, locale=locale)
    return {"decimal": get_decimal_symbol(locale), "thousands": get_group_symbol(locale),
            "grouping": [3], "currency": [symbol + ("\u00a0" if lang == "pt-BR" else ""), ""]}


def _styled(chart: ChartSpec) -> dict[str, Any]:
    spec = dict(chart.spec)
    spec["config"] = {**CONFIG, **spec.get("config", {})}
    spec.setdefault("background", "white")
    return spec


def to_svg(chart: ChartSpec, lang: str, currency: str) -> str:
    """A standalone SVG document of the chart."""
    svg: str = vl_convert.vegalite_to_svg(_styled(chart),
                                          format_locale=format_locale(lang, currency))
    return svg


def to_png(chart: ChartSpec, lang: str, currency: str, scale: float = 2.0) -> bytes:
    png: bytes = vl_convert.vegalite_to_png(_styled(chart), scale=scale,
                                            format_locale=format_locale(lang, currency))
    return png


def inline_svg(svg: str, prefix: str) -> str:
    """The SVG ready to sit inside an HTML page beside others: its ids (clip paths,
    gradients) are renumbered under the chart's prefix, so two charts never share one and
    the page does not depend on how many charts the renderer drew before (its counters are
    process-wide), and it scales to the width it is given."""
    renamed = {found: f"{prefix}-{index}" for index, found
               in enumerate(dict.fromkeys(_ID.findall(svg)))}
    if renamed:
        pattern = re.compile(r'(id="|url\(#|href="#)(' + "|".join(
            re.escape(found) for found in sorted(renamed, key=len, reverse=True)) + r')(?=[")])')
        svg = pattern.sub(lambda m: m.group(1) + renamed[m.group(2)], svg)
    return re.sub(r'<svg ([^>]*?)width="([\d.]+)" height="([\d.]+)"',
                  r'<svg \1style="max-width:\2px" role="img"', svg, count=1)


def sparkline(values: Sequence[float | None], width: int = 96, height: int = 24) -> str:
    """A small trend line as inline SVG (a polyline per run of known values; a gap where a
    month has no value), with a dot on the last month."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (width - 4) / max(len(values) - 1, 1)
    runs: list[list[str]] = [[]]
    last: tuple[float, float] | None = None
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        x = 2 + index * step
        y = height - 2 - (value - low) / span * (height - 4)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        last = (x, y)
    lines = "".join(f'<polyline points="{" ".join(run)}"/>' for run in runs if len(run) > 1)
    dot = f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2"/>' if last else ""
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" aria-hidden="true"><g class="marks">{lines}{dot}</g></svg>')
