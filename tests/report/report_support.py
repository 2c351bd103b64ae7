"""What the report tests share: the demo store's window, the built pages, and the CLI runner.

A module of its own, not conftest.py: `from conftest import ...` would find whichever test
folder's conftest pytest imported first (tests/report after plugins/loyalty/tests on one
command line found the loyalty plugin's), so the report tests import from here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clientela import plugins
from clientela.cli.app import main
from clientela.cli.common import workspace

WINDOW = ("2024-12", "2025-12")
"""The demo (two years ending 2025-12-31) seen as the default window sees it: its first and
last month, as the page's header shows them."""
WINDOW_END = "2026-01"
"""WINDOW's half-open end, as `clientela kpi --to` takes it (not included)."""
COMPARE = "2025-01:2025-04,2025-04:2025-07"
"""January-March against April-June: each side's end is not included."""
COMPARED = ("revenue", "orders", "aov", "retention_rate", "channel_mix", "rfm_segments")
GENERATED = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
CONFIG = """[workspace]
store = "demo.duckdb"
timezone = "America/Sao_Paulo"
currency = "BRL"
"""


@dataclass(frozen=True)
class Built:
    folder: Path
    config: Path
    html: dict[str, str]
    """'en' and 'pt-BR' -> the monthly page from the Python API (one gathering, two
    languages); 'cli' -> the English page `clientela report` wrote (its own gathering);
    'compare' -> the pt-BR before/after page of COMPARE."""
    images: Path
    kpi: list[dict[str, object]]
    """`clientela kpi --format json` for the whole catalogue over the same months."""
    compare_kpi: list[dict[str, object]]
    """`clientela kpi --compare COMPARE` for COMPARED ('compare' in `html` is the page)."""


def run_cli(config: Path, *args: str) -> int:
    saved = (workspace.config_file, workspace.store_override, workspace.debug,
             workspace._settings)
    try:
        return main(["--config", str(config), *args])
    finally:
        (workspace.config_file, workspace.store_override, workspace.debug,
         workspace._settings) = saved


def build_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from clientela.demo import generate, load
    from clientela.report import ReportRequest, gather_monthly_report, render_monthly
    from clientela.store import Store

    plugins.reset(forget_local=True)
    folder = tmp_path_factory.mktemp("report")
    config = folder / "clientela.toml"
    config.write_text(CONFIG.replace("demo.duckdb", str(folder / "demo.duckdb")),
                      encoding="utf-8")
    with Store(folder / "demo.duckdb") as store:
        load(store, generate(customers=1_500, orders=8_000, seed=7, years=2))
    cli_page = folder / "report-cli.html"
    assert run_cli(config, "report", "-o", str(cli_page), "--title", "Loja Demo",
                   "--images", str(folder / "images")) == 0
    html = {"cli": cli_page.read_text(encoding="utf-8")}
    request = ReportRequest(timezone="America/Sao_Paulo", currency="BRL",
                            store_name="Loja Demo", generated_at=GENERATED)
    with Store(folder / "demo.duckdb", read_only=True) as store:
        data = gather_monthly_report(store, request)
    for lang in ("en", "pt-BR"):
        html[lang] = render_monthly(data, replace(request, lang=lang)).html
        (folder / f"report-{lang}.html").write_text(html[lang], encoding="utf-8")
    from clientela.plugins import registry

    compare_page, compare_kpi = folder / "compare.html", folder / "compare.json"
    assert run_cli(config, "report", "--compare", COMPARE, "--lang", "pt-BR", "-o",
                   str(compare_page)) == 0
    assert run_cli(config, "kpi", *COMPARED, "--compare", COMPARE, "--format", "json",
                   "-o", str(compare_kpi)) == 0
    html["compare"] = compare_page.read_text(encoding="utf-8")
    kpi_file = folder / "kpi.json"
    assert run_cli(config, "kpi", *registry().metrics, "--grain", "month", "--from",
                   WINDOW[0], "--to", WINDOW_END, "--format", "json", "-o", str(kpi_file)) == 0
    yield Built(folder, config, html, folder / "images",
                json.loads(kpi_file.read_text(encoding="utf-8")),
                json.loads(compare_kpi.read_text(encoding="utf-8")))
