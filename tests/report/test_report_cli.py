"""`clientela report` as a user runs it: the file, the images, the before/after page, mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from _report_page import read_page
from report_support import COMPARED, Built, run_cli

from clientela.plugins import registry
from clientela.store import Store


def test_images_hold_every_chart_of_the_page_as_svg_and_png(built: Built) -> None:
    page = read_page(built.html["cli"])
    names = sorted(figure.removeprefix("chart-") for figure in page.figures)
    assert sorted(p.stem for p in built.images.glob("*.svg")) == names
    assert sorted(p.stem for p in built.images.glob("*.png")) == names
    for name in names:
        assert (built.images / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (built.images / f"{name}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg") and "role-mark" in svg


def test_before_after_page_equals_kpi_compare(built: Built) -> None:
    page = read_page(built.html["compare"])
    assert page.ids["period"] == "2025-01..2025-03 → 2025-04..2025-06"
    rows = [r for r in built.compare_kpi if r["measure"] == "value"]
    assert {r["metric"] for r in rows} == set(COMPARED)
    for expected in rows:
        row = page.row(str(expected["metric"]), expected["item"])  # type: ignore[arg-type]
        # `kpi --format json` writes money to the cent (aov is a float mean); the page keeps
        # every digit
        money = registry().metrics[str(expected["metric"])].unit == "currency"
        for side in ("before", "after"):
            assert float(row.cells[side][0]) == pytest.approx(
                expected[side], rel=0 if money else 1e-9, abs=0.005 if money else 1e-10)
    revenue = next(r for r in rows if r["metric"] == "revenue")
    change = float(revenue["relative_change"]) * 100  # type: ignore[arg-type]
    sign = "+" if change > 0 else "\u2212"
    assert page.row("revenue").changes[1] == f"{sign}{abs(change):.1f}%".replace(".", ",")
    assert built.html["compare"].count('<div class="pair">') == 3  # charts side by side


@pytest.mark.parametrize(("args", "message"), [
    (["--lang", "fr"], "--lang 'fr': expected one of en, pt-BR"),
    (["--from", "2025-12", "--to", "2025-12"], "--to 2025-12 must come after --from 2025-12"),
    (["--from", "2025-01-15"], "the report covers whole months"),
    (["--compare", "2025-01"], "expected BEFORE_FROM:BEFORE_TO,AFTER_FROM:AFTER_TO"),
    (["--compare", "2025-03:2025-03,2025-04:2025-05"],
     "'2025-03:2025-03': the end must come after the start"),
    (["--compare", "2025-01:2025-03,2025-03:2025-05", "--from", "2025-01"],
     "leave out --from and --to"),
])
def test_mistakes_are_one_line_and_exit_2(built: Built, args: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    assert run_cli(built.config, "report", "-o", str(tmp_path / "r.html"), *args) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_a_store_without_orders_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    Store(tmp_path / "empty.duckdb").close()
    config = tmp_path / "clientela.toml"
    config.write_text(f'[workspace]\nstore = "{tmp_path / "empty.duckdb"}"\n', encoding="utf-8")
    assert run_cli(config, "report", "-o", str(tmp_path / "r.html")) == 2
    assert "holds no orders yet" in capsys.readouterr().err
