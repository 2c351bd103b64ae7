"""The store at a glance: what `clientela demo` prints once the data is in.

It compares the last twelve full months of data with the twelve before,
shows the channel split, and the RFM segments, through the same KPI engine
and segmenter a user calls, so the demo also proves the engine end to end.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

from rich.table import Table

from clientela.cli.common import console
from clientela.config import Settings
from clientela.kpi import KpiError, compute
from clientela.plugins import registry
from clientela.store import Store

HEADLINE = ("revenue", "orders", "aov", "active_customers", "new_customers",
            "purchase_frequency", "repeat_rate", "retention_rate", "churn_rate")
BY_CHANNEL = ("revenue", "orders", "aov")


def _month(year: int, month: int) -> str:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}"


def report_window(store: Store, timezone: str) -> tuple[str, str, str] | None:
    """(start of the year before, start of the last year, end): whole local months."""
    row = store.con.execute("SELECT max(placed_at) FROM orders").fetchone()
    if not row or row[0] is None:
        return None
    last = row[0].replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()
    end_year, end_month = (last.year, last.month + 1) if last.month < 12 else (last.year + 1, 1)
    return (_month(end_year - 2, end_month), _month(end_year - 1, end_month),
            _month(end_year, end_month))


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float, Decimal)) else 0.0


def _fmt(value: object, unit: str) -> str:
    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]
    if unit == "ratio":
        return f"{number:.1%}"
    if unit == "currency":
        return f"{number:,.2f}"
    if unit == "count":
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def print_store_report(store: Store, settings: Settings) -> None:
    ws = settings.workspace
    window = report_window(store, ws.timezone)
    if window is None:
        console.print("no orders in the store yet")
        return
    before, start, end = window
    catalog = registry().metrics
    names = [name for name in HEADLINE if name in catalog]
    result = compute(store, names, compare=((before, start), (start, end)),
                     timezone=ws.timezone, currency=ws.currency)
    table = Table(title=f"KPIs, {start} to {end} (exclusive) vs the 12 months before "
                        f"[{ws.timezone}, {ws.currency}]", title_justify="left")
    for column in ("metric", "", "before", "after", "change"):
        table.add_column(column, justify="left" if column in ("metric", "") else "right")
    rows = {row["metric"]: row for row in result.rows() if row["measure"] == "value"
            and row.get("item") is None}
    for name in names:
        metric, row = catalog[name], rows.get(name)
        if row is None:
            continue
        change = row.get("relative_change")
        table.add_row(metric.title, metric.title_pt, _fmt(row["before"], metric.unit),
                      _fmt(row["after"], metric.unit),
                      "-" if change is None else f"{float(change):+.1%}")
    console.print(table)

    split = compute(store, [n for n in BY_CHANNEL if n in catalog], start=start, end=end,
                    by="channel", timezone=ws.timezone, currency=ws.currency)
    by_channel: dict[str, dict[str, object]] = {}
    for row in split.rows():
        if row["measure"] == "value" and row.get("item") is None:
            by_channel.setdefault(str(row["channel"]), {})[row["metric"]] = row["value"]
    channels = Table(title=f"By channel, {start} to {end}", title_justify="left")
    for column in ("channel", *BY_CHANNEL):
        channels.add_column(column, justify="left" if column == "channel" else "right")
    for channel, values in sorted(by_channel.items(), key=lambda kv: -_number(kv[1].get("revenue"))):
        channels.add_row(channel, *(_fmt(values.get(n), catalog[n].unit) for n in BY_CHANNEL))
    console.print(channels)
    _print_rfm(store, settings, end)


def _print_rfm(store: Store, settings: Settings, end: str) -> None:
    if "rfm_segments" not in registry().metrics:
        return
    try:
        result = compute(store, ["rfm_segments"], start=_shift(end, -1), end=end,
                         timezone=settings.workspace.timezone, currency=settings.workspace.currency)
    except KpiError as error:
        console.print(f"RFM not shown: {error}")
        return
    segments: dict[str, dict[str, object]] = {}
    for row in result.rows():
        if row.get("item") is not None:
            segments.setdefault(str(row["item"]), {})[row["measure"]] = row["value"]
    columns = {"value": ("customers", "count"), "share": ("share", "ratio"),
               "revenue": ("revenue", "currency"), "recency_days": ("R days", "days"),
               "frequency": ("mean F", "days"), "monetary": ("mean M", "currency")}
    table = Table(title=f"RFM segments as of {end}", title_justify="left")
    table.add_column("segment")
    for label, _ in columns.values():
        # a number is never cut: at 80 columns the segment names wrap instead
        table.add_column(label, justify="right", no_wrap=True, overflow="fold")
    ranked = sorted(segments.items(), key=lambda kv: -_number(kv[1].get("revenue")))
    for name, values in ranked:
        table.add_row(name, *(_fmt(values.get(m), unit) for m, (_, unit) in columns.items()))
    console.print(table)


def _shift(month: str, months: int) -> str:
    year, mon = (int(part) for part in month.split("-"))
    return _month(year, mon + months)


__all__ = ["print_store_report", "report_window"]
