"""Numpy columns to Arrow columns without a Python object per row.

Generation is vectorised end to end, so conversion must be too: money goes
from integer cents straight into DECIMAL(18,2) buffers (exact, and far faster
than Decimal objects), keys are built by Arrow's string kernels, and the
table is checked against the entity's store schema so the loader never has
to guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from clientela.model.base import Record
from clientela.store.columns import arrow_schema

SOURCE = "demo"
POS_SOURCE = "demo-pos"
"""The demo's second source: the shops' point-of-sale export (see `clientela.demo.pos`)."""


def _validity(mask: NDArray[np.bool_] | None) -> pa.Buffer | None:
    if mask is None or not mask.any():
        return None
    return pa.array(~mask, type=pa.bool_()).buffers()[1]


def decimal(
    units: NDArray[np.int64], scale: int = 2, mask: NDArray[np.bool_] | None = None
) -> pa.Array:
    """Unscaled integers (cents for money) as decimal128(18, scale); `mask` marks nulls."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # two's-complement sign extension of the high word
    null_count = int(mask.sum()) if mask is not None else 0
    return pa.Array.from_buffers(
        pa.decimal128(18, scale),
        len(units),
        [_validity(mask), pa.py_buffer(words.tobytes())],
        null_count=null_count,
    )


def timestamps(us: NDArray[np.int64], mask: NDArray[np.bool_] | None = None) -> pa.Array:
    values = np.asarray(us, dtype=np.int64).astype("datetime64[us]")
    return pa.array(values, type=pa.timestamp("us"), mask=mask)


def dates(epoch_days: NDArray[np.int64], mask: NDArray[np.bool_] | None = None) -> pa.Array:
    values = np.asarray(epoch_days, dtype=np.int64).astype("datetime64[D]")
    return pa.array(values, type=pa.date32(), mask=mask)


def integers(values: NDArray[np.int64], mask: NDArray[np.bool_] | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)


def pick(
    vocabulary: Sequence[str], index: NDArray[np.int64], mask: NDArray[np.bool_] | None = None
) -> pa.Array:
    """Strings from a small vocabulary by index; masked rows are null."""
    indices = pa.array(np.asarray(index, dtype=np.int64), type=pa.int64(), mask=mask)
    return pa.array(list(vocabulary), type=pa.string()).take(indices)


def number_text(values: NDArray[np.int64], width: int = 0) -> pa.Array:
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def keys(prefix: str, numbers: NDArray[np.int64], width: int) -> pa.Array:
    """Natural keys such as 'o00000042': sortable, and stable for a seed."""
    return join(prefix, number_text(numbers, width))


@dataclass(frozen=True)
class Numbering:
    """Where one block's keys start, per key prefix, and how wide they are.

    A store generated in blocks numbers each block's orders, touches... after
    the previous block's, at one width for the whole store; the default (start
    at 1, width from the count) is a store generated in one block.
    """

    first: Mapping[str, int] = field(default_factory=dict)
    width: int = 0
    """0: as wide as the count needs, at least the prefix's minimum."""

    def keys(self, prefix: str, n: int, min_width: int) -> pa.Array:
        first = self.first.get(prefix, 1)
        return keys(prefix, np.arange(first, first + n), self.width or max(min_width, len(str(n))))


def join(*parts: str | pa.Array) -> pa.Array:
    """Concatenate string columns and constants element-wise; a null part gives null."""
    return pc.binary_join_element_wise(*parts, "")


def constant(value: str, n: int) -> pa.Array:
    return pa.array([value], type=pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def string_lists(
    flags: NDArray[np.bool_], vocabulary: Sequence[str]
) -> pa.Array:
    """One list per row holding the vocabulary entries whose flag is set, in vocabulary order."""
    counts = flags.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    _, columns = np.nonzero(flags)
    values = pick(vocabulary, columns.astype(np.int64))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def table(model: type[Record], columns: Mapping[str, pa.Array], n: int) -> pa.Table:
    """Assemble an entity's table in its store schema; a missing column must be nullable."""
    schema = arrow_schema(model)
    arrays: list[pa.Array] = []
    for schema_field in schema:
        if schema_field.name == "source":
            array = constant(SOURCE, n)
        elif schema_field.name in columns:
            array = columns[schema_field.name]
        elif schema_field.nullable:
            array = pa.nulls(n, schema_field.type)
        else:
            raise ValueError(f"{model.entity}: no data for required column {schema_field.name!r}")
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if array.type != schema_field.type:
            array = array.cast(schema_field.type)
        if len(array) != n:
            raise ValueError(f"{model.entity}.{schema_field.name}: {len(array)} rows, expected {n}")
        arrays.append(array)
    extra = set(columns) - set(schema.names)
    if extra:
        raise ValueError(f"{model.entity}: columns not in the schema: {sorted(extra)}")
    return pa.Table.from_arrays(arrays, schema=schema)
