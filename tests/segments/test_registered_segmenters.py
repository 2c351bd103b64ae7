"""Every path that segments customers asks the registry: a plugin's segmenter works on
`clientela segments <name>`, on `kpi --by segment --segmenter <name>` and in a push's
contacts, exactly as RFM does; an unknown name is a user mistake (exit 2)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from clientela import plugins
from clientela.cli.app import main
from clientela.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kpi"))
from _kpi_fixtures import basic_records, build_store

PLUGIN = "segments.plugin_segmenter"
AS_OF = "2025-03-10"
# Valid orders before 10 March 2025 (cancelled o3 and refunded o8 do not count):
# a: o1, o2 -> repeat; b: o4 -> single; c: o5, o6 -> repeat; d: none -> no row.
EXPECTED = {"a": "repeat", "b": "single", "c": "repeat"}


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "seg.duckdb"
    customers, orders = basic_records()
    build_store(path, customers, orders).close()
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))

    def invoke(store_file: Path, *args: str) -> tuple[int, str]:
        code = main(["--plugin", PLUGIN, "--store", str(store_file), *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    yield invoke
    plugins.reset(forget_local=True)


def test_segments_command_saves_and_prints_a_plugin_segmenter(store_file: Path, run) -> None:
    code, output = run(store_file, "segments", "repeat", "--as-of", AS_OF)
    assert code == 0, output
    assert "Repeat buyers as of 2025-03-10" in output
    assert "repeat" in output and "66.7%" in output and "33.3%" in output
    with Store(store_file) as store:
        rows = store.con.execute(
            "SELECT customer_id, segment, orders FROM repeat_scores ORDER BY 1").fetchall()
    assert rows == [("a", "repeat", 2), ("b", "single", 1), ("c", "repeat", 2)]


def test_kpi_slices_by_the_named_segmenter(store_file: Path, run) -> None:
    code, output = run(store_file, "kpi", "orders", "--from", "2025-01", "--to", "2025-03",
                       "--by", "segment", "--segmenter", "repeat", "--as-of", AS_OF,
                       "--format", "json")
    assert code == 0, output
    found = {r["segment"]: r["value"] for r in json.loads(output) if r["measure"] == "value"}
    # Jan-Feb 2025 (--to is not included) valid orders: a o1, o2 (repeat); b o4 (single); c o6 is 28 Feb in
    # São Paulo but the workspace zone is UTC, so 1 March: out. Guest o7 has no segment.
    assert found == {"repeat": 2, "single": 1, None: 1}


def test_an_unknown_segmenter_is_a_user_mistake(store_file: Path, run) -> None:
    code, output = run(store_file, "segments", "nope")
    assert code == 2
    assert "unknown segmenter 'nope'" in output and "repeat" in output and "rfm" in output
    code, output = run(store_file, "kpi", "orders", "--from", "2025-01", "--by", "segment",
                       "--segmenter", "nope")
    assert code == 2
    assert "unknown segmenter 'nope'" in output


def test_segments_without_a_name_lists_the_registered_ones(store_file: Path, run) -> None:
    code, output = run(store_file, "segments")
    assert code == 0
    assert "repeat" in output and "Repeat buyers" in output and "rfm" in output


def test_push_contacts_take_the_named_segmenter(store_file: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    plugins.add_local_plugin(PLUGIN)
    from clientela.destinations.contacts import (
        Segmentation,
        build_contacts,
        choose_fields,
        rfm_features,
        segments_of,
    )

    as_of = datetime(2025, 3, 10)
    try:
        with Store(store_file) as store:
            features = rfm_features(store, as_of, "UTC", "BRL", segmenter="repeat")
            build_contacts(store.con, features, Segmentation(name="repeat"),
                           choose_fields(["rfm_segment"], store.con), as_of=as_of,
                           timezone="UTC")
            announced = segments_of(Segmentation(name="repeat"), store.con)
    finally:
        plugins.reset(forget_local=True)
    rows = sorted(zip(features["customer_id"].to_pylist(),
                      features["chosen_segment"].to_pylist(), strict=True))
    assert rows == sorted(EXPECTED.items())
    assert all(segment is not None for segment in features["rfm_segment"].to_pylist())
    assert announced == ("repeat", "single")  # declared up front, in the segmenter's order
