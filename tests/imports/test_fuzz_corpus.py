"""The fuzz corpus imports with exit 0: every bad record quarantined with its reason, every
good one landed with its exact value, and the counts add up."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.store import Store
from tests.imports.corpus import BAD_KINDS, corpus, write

GOOD_KINDS = {"good", "compact_date", "rounding", "repeat", "superseded"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_fuzz_corpus_lands_the_good_and_quarantines_the_bad_with_reasons(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = corpus(fmt)
    assert len(cases) >= 10_000
    kinds = {case.kind for case in cases}
    assert {k for k, (_, formats) in BAD_KINDS.items() if fmt in formats} <= kinds
    path = write(cases, tmp_path / f"orders.{fmt}", fmt)

    assert main(["import", str(path), "--entity", "orders", "--batch-size", "2000"]) == 0
    capsys.readouterr()

    expected_landed: dict[str, Decimal] = {}
    compact: set[str] = set()
    for case in cases:
        if case.kind in GOOD_KINDS:
            expected_landed[case.row["order_id"]] = case.landed["total"]
            if case.kind == "compact_date":
                compact.add(case.row["order_id"])
    bad = [case for case in cases if case.kind not in GOOD_KINDS]

    with Store("clientela.duckdb") as store:
        landed = dict(store.con.execute("SELECT order_id, total FROM orders").fetchall())
        placed = dict(store.con.execute(
            "SELECT order_id, placed_at FROM orders WHERE order_id IN "
            f"({', '.join(repr(k) for k in sorted(compact))})").fetchall())
        quarantined = store.con.execute(
            "SELECT record_key, reason FROM quarantine WHERE resolved_at IS NULL").fetchall()
        (stats,), = store.con.execute("SELECT stats FROM runs").fetchall()

    assert landed == expected_landed
    assert set(placed.values()) == {datetime(1997, 1, 1)}
    assert len(quarantined) == len(bad)
    by_key = {key: reason for key, reason in quarantined if key != "?"}
    unkeyed = sorted(reason for key, reason in quarantined if key == "?")
    for case in bad:
        assert case.reason is not None
        if case.raw_line is None:
            assert case.reason in by_key[case.row["order_id"]], (case.kind, case.row["order_id"])
    line_phrases = [case.reason for case in bad if case.raw_line is not None]
    assert sorted(next(p for p in set(line_phrases) if p in reason) for reason in unkeyed) == \
        sorted(line_phrases)

    counts = json.loads(stats)
    assert counts["read"] == len(cases)
    assert counts["quarantined"] == len(bad)
    assert counts["read"] == (counts["inserted"] + counts["updated"] + counts["unchanged"]
                              + counts["stale"] + counts["quarantined"] + counts["duplicates"])
    assert counts["inserted"] == len(expected_landed)
