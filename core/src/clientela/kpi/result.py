"""The engine's answer: one tidy table, convertible to pandas, polars and Arrow.

Every metric, whatever its shape (one number, a histogram, a matrix),
lands in the same long layout, so a CLI, a report or a notebook reads all
of them the same way and a comparison is a join on the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from clientela.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

SERIES_KEYS: tuple[str, ...] = ("metric", "period", "period_start", "period_end")
COMPARISON_VALUES: tuple[str, ...] = ("before", "after", "change", "relative_change")


@dataclass(frozen=True)
class KpiResult:
    """Long table: metric, period (or before/after periods), the slice column, item, measure,
    and the numbers. `item` labels the rows of table-shaped metrics (a histogram bucket, a
    cohort cell) and is null for a plain number; `measure` is 'value' for a metric's headline
    number and names any companion (e.g. 'median', 'winback_revenue')."""

    table: pa.Table
    kind: str
    """'series' (one row per period) or 'comparison' (before, after, change)."""
    by: str | None = None

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def to_polars(self) -> pl.DataFrame:
        try:
            import polars as pl
        except ImportError:
            raise ImportError("to_polars() needs polars, an optional extra: "
                              "pip install 'clientela[polars]' (from a checkout: "
                              "pip install './core[polars]')") from None

        frame = pl.from_arrow(self.table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def rows(self) -> list[dict[str, Any]]:
        return records(self.table)

    def value(self, metric: str, measure: str = "value", *, period: str | None = None,
              slice: str | None = None, item: str | None = None,
              column: str = "value") -> float | None:
        """One number, for tests and scripts; fails unless exactly one row matches. `item`
        None means the row without an item (a table-shaped metric's summary row).

        No row or several is the caller naming the wrong thing, so it is `NotFound` (still a
        `LookupError`): a script run through the CLI ends with one line, not "a bug"."""
        matches = [
            row for row in self.rows()
            if row["metric"] == metric and row["measure"] == measure
            and (period is None or row.get("period") == period)
            and (slice is None or (self.by is not None and row.get(self.by) == slice))
            and row.get("item") == item
        ]
        if len(matches) != 1:
            raise NotFound(f"{len(matches)} rows match {metric}/{measure} period={period} "
                              f"slice={slice} item={item}")
        found = matches[0][column]
        return None if found is None else float(found)


def records(table: pa.Table) -> list[dict[str, Any]]:
    """`table.to_pylist()`, column by column: the same dicts about twice as fast (Arrow
    converts a column's values in one pass; a cohort matrix is thousands of rows)."""
    columns = table.to_pydict()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(),
                                                                     strict=True)]
