"""Errors of the KPI engine: a bad request, or data the store does not have."""

from __future__ import annotations


class KpiError(ValueError):
    """A request the engine cannot honour (unknown metric, bad grain, bad slice, bad params)."""


class MissingDataError(KpiError):
    """A metric needs a table the store lacks or holds empty: say so rather than report zeros."""

    def __init__(self, metric: str, table: str, *, reason: str = "is empty") -> None:
        self.metric = metric
        self.table = table
        super().__init__(
            f"metric {metric!r} needs the {table!r} table, which {reason} in this store; "
            f"load {table} (clientela import --entity {table} ...) to compute it"
        )


class SeriesUnsupported(Exception):
    """Raised by a series metric that cannot answer this particular series in one expression
    (e.g. its periods are not each other's predecessors): the engine then asks it one period
    at a time, which is always correct."""
