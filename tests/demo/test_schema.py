"""Every table is exactly its store schema and every sampled row is a valid canonical record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clientela.demo import DemoData
from clientela.model import ENTITIES, Record, validate_rows
from clientela.store.columns import arrow_schema, model_columns

SAMPLE = 1_500


@pytest.mark.parametrize("model", ENTITIES, ids=lambda m: m.table)
def test_table_conforms_to_store_schema(demo: DemoData, model: type[Record]) -> None:
    table = demo[model.table]
    assert table.schema.equals(arrow_schema(model))
    assert table.num_rows > 0
    assert set(table.column("source").to_pylist()) == {"demo"}
    for field in arrow_schema(model):
        if not field.nullable:
            assert table.column(field.name).null_count == 0, field.name


@pytest.mark.parametrize("model", ENTITIES, ids=lambda m: m.table)
def test_sampled_rows_validate(demo: DemoData, model: type[Record]) -> None:
    table = demo[model.table]
    rng = np.random.default_rng(0)
    picked = np.unique(np.concatenate([
        np.arange(min(500, table.num_rows)),
        rng.integers(0, table.num_rows, SAMPLE),
    ]))
    rows = table.take(picked).to_pylist()
    json_columns = [col.name for col in model_columns(model) if col.is_json]
    for row in rows:
        for name in json_columns:
            row[name] = json.loads(row[name])
    good, bad = validate_rows(model, rows, context={"reporting_currency": "BRL"})
    assert [rejection.reason for rejection in bad] == []
    assert len(good) == len(rows)


@pytest.mark.parametrize("model", ENTITIES, ids=lambda m: m.table)
def test_natural_keys_are_unique(demo: DemoData, model: type[Record]) -> None:
    frame = demo[model.table].select(list(model.key_fields)).to_pandas()
    assert not frame.duplicated().any()
