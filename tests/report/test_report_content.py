"""The numbers on the page are `clientela kpi`'s, read back from the HTML a reader gets."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest
from _report_page import Page, read_page, shown_number
from report_support import WINDOW, Built

from clientela.plugins import registry

DECIMALS = {"currency": 2, "count": 0, "points": 0, "days": 1, "score": 1, "number": 2}


def kpi_values(built: Built) -> dict[tuple[str, str, str | None], float | None]:
    return {(str(r["metric"]), str(r["period"]), r["item"]): r["value"]  # type: ignore[misc]
            for r in built.kpi if r["measure"] == "value"}


def unit_of(metric: str) -> str:
    unit = registry().metrics[metric].unit
    return "ratio" if metric == "channel_mix" else ("count" if unit == "table" else unit)


def check_shown(text: str, value: float | None, unit: str, lang: str) -> None:
    """The text shows the value rounded to what its unit shows (percentages: one decimal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        assert text == "—"
        return
    shown = shown_number(text, lang)
    scale, decimals = (Decimal(100), 1) if unit == "ratio" else (Decimal(1), DECIMALS[unit])
    exact = Decimal(repr(value)) * scale
    assert abs(shown - exact) <= Decimal(5) / Decimal(10) ** (decimals + 1) + Decimal("1e-9"), (
        text, value, unit)


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_every_cell_is_the_kpi_value_of_its_month(built: Built, lang: str) -> None:
    page = read_page(built.html[lang])
    expected = kpi_values(built)
    months = [f"2024-{m:02d}" for m in (12,)] + [f"2025-{m:02d}" for m in range(1, 13)]
    checked = 0
    for row in page.rows:
        if not row.cells:
            continue
        assert list(row.cells) == months, row.metric
        for period, (raw, text) in row.cells.items():
            key = (row.metric, period, row.item)
            value = expected[key]
            # `kpi --format json` writes money to the cent (aov is a float mean) and other
            # values as computed; the page keeps every digit
            money = unit_of(row.metric) == "currency"
            if value is None:
                assert raw == "", key
            elif money:
                assert float(raw) == pytest.approx(value, rel=0, abs=0.005), key
            else:
                assert float(raw) == pytest.approx(value, rel=1e-9, abs=1e-10), key
            shown = float(raw) if money and value is not None else value
            check_shown(text, shown, unit_of(row.metric), lang)
            checked += 1
    assert checked > 600  # 40-odd metrics and the channel and segment rows, 13 months each


def test_every_metric_with_a_headline_has_its_row(built: Built) -> None:
    page = read_page(built.html["en"])
    headline = {r["metric"] for r in built.kpi if r["item"] is None and r["measure"] == "value"}
    with_cells = {r.metric for r in page.rows if r.cells and r.item is None}
    assert headline == with_cells
    channels = {r["item"] for r in built.kpi if r["metric"] == "channel_mix"}
    assert {r.item for r in page.rows if r.metric == "channel_mix" and r.cells} == channels
    assert {r.item for r in page.rows if r.metric == "rfm_segments" and r.cells} == {
        r["item"] for r in built.kpi if r["metric"] == "rfm_segments"
        and r["period"] in ("2025-11", "2025-12")}


def test_every_catalogue_metric_is_on_the_page(built: Built) -> None:
    page = read_page(built.html["en"])
    assert {r.metric for r in page.rows} == set(registry().metrics)
    notes = {r.metric: r.note for r in page.rows if not r.cells}
    assert notes["return_probability"] == ("a table per period: see `clientela kpi "
                                           "return_probability`")
    assert notes["cohort_retention"].startswith("shown in the chart")


def _value(values: dict[Any, Any], metric: str, period: str) -> float:
    found = values[(metric, period, None)]
    assert found is not None
    return float(found)


@pytest.mark.parametrize(("metric", "lang", "how"), [
    ("revenue", "en", "relative"), ("orders", "pt-BR", "relative"),
    ("retention_rate", "en", "points"), ("repeat_rate", "pt-BR", "points"),
])
def test_changes_against_last_month_and_a_year_before(built: Built, metric: str, lang: str,
                                                      how: str) -> None:
    values = kpi_values(built)
    row = read_page(built.html[lang]).row(metric)
    last = _value(values, metric, "2025-12")
    expected = []
    for earlier in ("2025-11", "2024-12"):
        before = _value(values, metric, earlier)
        change = (last - before) / abs(before) if how == "relative" else last - before
        sign = "+" if change > 0 else "\u2212"
        amount = abs(change) * 100
        decimal = "." if lang == "en" else ","
        text = f"{amount:.1f}".replace(".", decimal)
        expected.append(f"{sign}{text}%" if how == "relative" else f"{sign}{text} pp")
    assert [re.sub(r"\s", "", c) for c in row.changes] == [
        re.sub(r"\s", "", e) for e in expected]


def test_money_is_written_for_the_language(built: Built) -> None:
    en = read_page(built.html["en"]).row("revenue").cells["2025-12"][1]
    pt = read_page(built.html["pt-BR"]).row("revenue").cells["2025-12"][1]
    assert re.fullmatch(r"R\$\d{1,3}(,\d{3})*\.\d{2}", en), en
    assert re.fullmatch(r"R\$\u00a0\d{1,3}(\.\d{3})*,\d{2}", pt), pt
    assert shown_number(en, "en") == shown_number(pt, "pt-BR")


def test_header_says_store_period_zone_currency_and_when(built: Built) -> None:
    page = read_page(built.html["pt-BR"])
    assert page.ids["store"] == "Loja Demo"
    assert page.ids["period"] == f"{WINDOW[0]}..{WINDOW[1]}"
    assert page.ids["timezone"] == "America/Sao_Paulo"
    assert page.ids["currency"] == "BRL"
    assert page.ids["generated"] == "2 de jan. de 2026 06:30:00"  # 09:30 UTC in São Paulo
    assert 'datetime="2026-01-02T09:30:00+00:00"' in built.html["pt-BR"]


def test_each_metric_has_its_definition_from_the_catalogue(built: Built) -> None:
    page = read_page(built.html["en"])
    for name, metric in registry().metrics.items():
        note = page.notes[name]
        assert " ".join(metric.description.split()) in note
        assert note.startswith(metric.title)
    assert read_page(built.html["pt-BR"]).notes["churn_rate"].startswith(
        registry().metrics["churn_rate"].title_pt)


def test_months_without_a_fit_are_said_in_the_note(built: Built) -> None:
    """The demo's first months are too short a history for BG/NBD: the year-ago months
    before April 2024 have no value, and the note says so; the window's months all fit."""
    page = read_page(built.html["en"])
    assert all(raw for raw, _ in page.row("clv_predicted").cells.values())
    assert "Not computed for 2023-12, 2024-01" in page.notes["clv_predicted"]


def test_the_page_fetches_nothing_and_runs_no_script(built: Built) -> None:
    for name, html in built.html.items():
        page: Page = read_page(html)
        assert page.scripts == 0
        assert page.external == []
        assert "url(http" not in html and "@import" not in html
        assert len(page.figures) == (3 if name == "compare" else 10)


def test_same_store_same_file_apart_from_the_time(built: Built) -> None:
    """The CLI's page (its own gathering, generated now) and the API's (another gathering,
    a fixed time) are the same bytes once the generation time is taken out."""
    def untimed(html: str) -> str:
        return re.sub(r'<time id="generated" datetime="[^"]*">[^<]*</time>', "<time/>", html)

    assert built.html["cli"] != built.html["en"]
    assert untimed(built.html["cli"]) == untimed(built.html["en"])
