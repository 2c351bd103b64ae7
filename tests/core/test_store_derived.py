"""Derived tables (`clientela.store.derived`): replaced whole, with the columns they promise."""

from __future__ import annotations

import pyarrow as pa
import pytest

from clientela.store import Store, derived


def _scores(ids: list[str], segment: str) -> pa.Table:
    return pa.table({"customer_id": ids, "recency": [1.0] * len(ids),
                     "segment": [segment] * len(ids),
                     "as_of": pa.array([None] * len(ids), pa.timestamp("us"))})


def test_replace_then_read_round_trips_and_replaces_everything(
        clientela_store_target: str) -> None:
    table = derived.segment_scores("rfm")
    assert table.name == "rfm_scores"
    with Store(clientela_store_target) as store:
        assert derived.read(store, table) is None
        assert derived.replace(store, table, _scores(["a", "b", "c"], "New")) == 3
        assert derived.replace(store, table, _scores(["d"], "Lost")) == 1
        found = derived.read(store, table)
    assert found is not None
    assert found.to_pylist() == [{"customer_id": "d", "recency": 1.0, "segment": "Lost",
                                  "as_of": None}]


def test_rows_without_the_promised_columns_are_refused_and_change_nothing(
        clientela_store_target: str) -> None:
    with Store(clientela_store_target) as store:
        derived.replace(store, derived.CLV_SCORES, pa.table({
            "customer_id": ["a"], "clv": [1.0], "p_alive": [0.5], "expected_purchases": [2.0]}))
        with pytest.raises(ValueError, match="clv_scores: the rows lack the column"
                                             r"\(s\) p_alive, expected_purchases"):
            derived.replace(store, derived.CLV_SCORES,
                            pa.table({"customer_id": ["b"], "clv": [3.0]}))
        found = derived.read(store, derived.CLV_SCORES)
    assert found is not None and found["customer_id"].to_pylist() == ["a"]


@pytest.mark.parametrize("name", ["orders", "customers", "sync_state", "runs", "push_state"])
def test_a_derived_table_never_takes_a_migrated_tables_name(name: str) -> None:
    with pytest.raises(ValueError, match="migrations define"):
        derived.DerivedTable(name, ("customer_id",), "")


@pytest.mark.parametrize("name", ["Orders", "x;drop", "", "1abc"])
def test_a_derived_table_name_is_a_plain_identifier(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters"):
        derived.DerivedTable(name, ("customer_id",), "")
