"""A script reproduces `clientela clv` and `clientela segments` with the library functions.

The commands persist nothing themselves: `clientela.clv.engine.run_clv` and
`clientela.segments.save_segments` replace the derived tables
(`clientela.store.derived`). Here the commands run on one copy of a demo store and a
plain Python script, in its own process, on another copy; the tables they leave must be
identical, row for row and bit for bit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from clientela.cli.app import main
from clientela.clv.engine import run_clv
from clientela.demo import generate, load
from clientela.kpi import KpiError
from clientela.store import Store, derived

TZ = "America/Sao_Paulo"
AS_OF = "2026-01-01"

SCRIPT = f"""
import sys
from datetime import datetime
from clientela.clv.engine import run_clv
from clientela.segments import save_segments
from clientela.store import Store

with Store(sys.argv[1]) as store:
    report = run_clv(store, horizon_months=12, holdout_months=6, timezone={TZ!r},
                     currency="BRL")
    scores = save_segments(store, "rfm", datetime(2026, 1, 1, 3), {TZ!r}, "BRL")
print(report.customer_table.num_rows, scores.num_rows)
"""


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("clv-run") / "demo.duckdb"
    with Store(path) as store:
        load(store, generate(customers=800, orders=4_000, seed=5))
    yield path


def _copy(demo_path: Path, folder: Path, name: str) -> Path:
    target = folder / f"{name}.duckdb"
    shutil.copyfile(demo_path, target)
    return target


def _table(path: Path, table: derived.DerivedTable) -> pa.Table:
    with Store(path, read_only=True) as store:
        found = derived.read(store, table)
    assert found is not None, table.name
    return found.sort_by("customer_id")


def test_a_script_gets_the_tables_the_commands_save(demo_path: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    by_command = _copy(demo_path, tmp_path, "command")
    by_script = _copy(demo_path, tmp_path, "script")
    config = tmp_path / "clientela.toml"
    config.write_text(f'[workspace]\ntimezone = "{TZ}"\ncurrency = "BRL"\n')
    common = ["--config", str(config), "--store", str(by_command)]
    assert main([*common, "clv", "--horizon", "12", "--holdout", "6"]) == 0
    assert main([*common, "segments", "rfm", "--as-of", AS_OF]) == 0
    capsys.readouterr()
    completed = subprocess.run([sys.executable, "-c", SCRIPT, str(by_script)],
                               capture_output=True, text=True, check=False, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    customers, scored = (int(n) for n in completed.stdout.split())

    clv_command = _table(by_command, derived.CLV_SCORES)
    clv_script = _table(by_script, derived.CLV_SCORES)
    assert clv_command.column_names == ["customer_id", "clv", "p_alive", "expected_purchases"]
    assert clv_command.num_rows == customers > 700
    assert clv_script.equals(clv_command)
    rfm = derived.segment_scores("rfm")
    rfm_command, rfm_script = _table(by_command, rfm), _table(by_script, rfm)
    assert rfm_command.num_rows == scored == customers  # every buyer, scored as of AS_OF
    assert rfm_script.equals(rfm_command)


def test_run_clv_replaces_the_previous_scores(demo_path: Path, tmp_path: Path) -> None:
    path = _copy(demo_path, tmp_path, "again")
    with Store(path) as store:
        derived.replace(store, derived.CLV_SCORES, pa.table({
            "customer_id": ["gone"], "clv": [1.0], "p_alive": [0.5],
            "expected_purchases": [2.0]}))
        report = run_clv(store, holdout_months=0, timezone=TZ, segmenter=None)
        saved = derived.read(store, derived.CLV_SCORES)
    assert saved is not None
    assert "gone" not in saved["customer_id"].to_pylist()
    assert saved.num_rows == report.customer_table.num_rows
    assert saved.sort_by("customer_id")["clv"].equals(
        report.customer_table.sort_by("customer_id")["clv"])


def test_a_failed_run_leaves_the_previous_scores(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.duckdb") as store:
        before = pa.table({"customer_id": ["c1"], "clv": [10.0], "p_alive": [0.9],
                           "expected_purchases": [1.5]})
        derived.replace(store, derived.CLV_SCORES, before)
        with pytest.raises(KpiError, match="orders"):
            run_clv(store)
        assert derived.read(store, derived.CLV_SCORES) == before
