"""Store columns derived from the canonical model, so the two never drift apart.

Each pydantic field maps to one DuckDB column and one Arrow field; Decimal
money keeps its scale (DECIMAL(18,2)), timestamps are naive UTC (the
convention of docs/design.md, and what every Ibis backend reads the same way).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

import pyarrow as pa
from pydantic.fields import FieldInfo

from clientela.model.base import Record

HASH_COLUMN = "_hash"
LOADED_AT_COLUMN = "_loaded_at"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    arrow_type: pa.DataType
    nullable: bool
    is_json: bool = False
    """Dicts are kept as JSON text: portable to every engine the metrics run on."""


def _decimal_scale(info: FieldInfo, metadata: list[Any]) -> tuple[int, int]:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    for meta in [*info.metadata, *metadata]:
        json_extra = getattr(meta, "json_schema_extra", None)
        if isinstance(json_extra, dict):
            extra = {**extra, **json_extra}
    store_type = str(extra.get("x-store-type", "DECIMAL(18,2)"))
    precision, scale = store_type.removeprefix("DECIMAL(").removesuffix(")").split(",")
    return int(precision), int(scale)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        nullable = len(args) < len(get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
        return annotation, nullable
    return annotation, False


def _column(name: str, info: FieldInfo) -> Column:
    annotation, nullable = _unwrap_optional(info.annotation)
    metadata: list[Any] = []
    if get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
    nullable = nullable or (not info.is_required() and info.default is None)
    origin = get_origin(annotation)
    if origin is list:
        return Column(name, "VARCHAR[]", pa.list_(pa.string()), True)
    if origin is dict:
        return Column(name, "VARCHAR", pa.string(), True, is_json=True)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return Column(name, "VARCHAR", pa.string(), nullable)
    if annotation is bool:
        return Column(name, "BOOLEAN", pa.bool_(), nullable)
    if annotation is int:
        return Column(name, "BIGINT", pa.int64(), nullable)
    if annotation is float:
        return Column(name, "DOUBLE", pa.float64(), nullable)
    if annotation is Decimal:
        precision, scale = _decimal_scale(info, metadata)
        return Column(name, f"DECIMAL({precision},{scale})", pa.decimal128(precision, scale),
                      nullable)
    if annotation is datetime:
        return Column(name, "TIMESTAMP", pa.timestamp("us"), nullable)
    if annotation is date:
        return Column(name, "DATE", pa.date32(), nullable)
    if annotation is str:
        return Column(name, "VARCHAR", pa.string(), nullable)
    raise TypeError(f"no store type for field {name!r} of type {annotation!r}")


@cache
def model_columns(model: type[Record]) -> list[Column]:
    """The data columns of an entity's table, in field order (source first)."""
    return [_column(name, info) for name, info in model.model_fields.items()]


@cache
def arrow_schema(model: type[Record]) -> pa.Schema:
    return pa.schema(
        [pa.field(col.name, col.arrow_type, nullable=col.nullable) for col in model_columns(model)]
    )


def create_table_sql(model: type[Record]) -> str:
    cols = [f'"{col.name}" {col.sql_type}' + ("" if col.nullable else " NOT NULL")
            for col in model_columns(model)]
    cols.append(f'"{HASH_COLUMN}" VARCHAR NOT NULL')
    cols.append(f'"{LOADED_AT_COLUMN}" TIMESTAMP NOT NULL')
    key = ", ".join(f'"{name}"' for name in ("source", *model.key_fields))
    return f'CREATE TABLE IF NOT EXISTS "{model.table}" ({", ".join(cols)}, PRIMARY KEY ({key}))'
