"""A column's type name is parsed into an Ibis type once per process: a table read again
has the same schema without sqlglot parsing its type names again, and a changed table is
read as it is now."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pytest
from ibis.backends.sql import datatypes

from clientela.kpi.type_names import remember_type_names

COLUMNS = """(id VARCHAR NOT NULL, note VARCHAR, total DECIMAL(18,2) NOT NULL,
              rate DECIMAL(18,8), n BIGINT, placed TIMESTAMP NOT NULL, tags VARCHAR[])"""

EXPECTED = ibis.schema({
    "id": dt.String(nullable=False), "note": dt.String(),
    "total": dt.Decimal(18, 2, nullable=False), "rate": dt.Decimal(18, 8),
    "n": dt.Int64(), "placed": dt.Timestamp(scale=6, nullable=False), "tags": dt.Array(dt.String()),
})


def test_a_table_read_again_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ibis.duckdb.connect()
    backend.raw_sql(f"CREATE TABLE t {COLUMNS}")
    assert remember_type_names(backend) is True
    assert remember_type_names(backend) is True  # idempotent
    mapper = backend.compiler.type_mapper
    wrapped = mapper.__dict__["from_string"]
    remember_type_names(backend)
    assert mapper.__dict__["from_string"] is wrapped  # wrapped once, not twice
    assert backend.get_schema("t") == EXPECTED

    parses: list[Any] = []
    parse_one = datatypes.sg.parse_one

    def counted(*args: Any, **kwargs: Any) -> Any:
        parses.append(args[0])
        return parse_one(*args, **kwargs)

    monkeypatch.setattr(datatypes.sg, "parse_one", counted)
    assert backend.get_schema("t") == EXPECTED
    assert parses == []  # every type name was parsed already
    # a changed table is read anew (whether DATE is parsed now depends on what the process
    # read before: the parses are kept process-wide)
    backend.raw_sql("ALTER TABLE t ADD COLUMN day DATE")
    assert backend.get_schema("t") == ibis.schema({**EXPECTED, "day": dt.Date()})
    assert set(parses) <= {"DATE"}


def test_nullability_is_part_of_the_name() -> None:
    backend = ibis.duckdb.connect()
    remember_type_names(backend)
    mapper = backend.compiler.type_mapper
    assert mapper.from_string("BIGINT", nullable=False) == dt.Int64(nullable=False)
    assert mapper.from_string("BIGINT", nullable=True) == dt.Int64(nullable=True)
    assert mapper.from_string("BIGINT") == dt.Int64(nullable=mapper.default_nullable)


def test_a_backend_without_a_type_mapper_is_left_alone() -> None:
    class Bare:
        pass

    assert remember_type_names(Bare()) is False
