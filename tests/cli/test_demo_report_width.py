"""The demo's store report at 80 columns: names wrap, numbers are never cut."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def test_the_demo_report_fits_80_columns_without_cutting_a_number(run: Any, tmp_path: Path) -> None:
    ran = run("--store", str(tmp_path / "demo.duckdb"), "demo", "--customers", "400",
              "--orders", "2000", "--seed", "7")
    assert ran.exit_code == 0, ran.err
    assert max(len(line) for line in ran.out.splitlines()) <= 80
    rfm = ran.out[ran.out.index("RFM segments as of"):]
    assert "…" not in rfm
    rows = [line for line in rfm.splitlines() if re.match(r"│ \w", line)]
    # every segment row that starts a segment carries all six figures, each whole
    figures = [re.findall(r"\d[\d,]*(?:\.\d+)?%?", line) for line in rows]
    assert any(len(found) == 6 for found in figures)
    assert all(len(found) in (0, 6) for found in figures)
