"""The hook point for results that depend on who is who: `on_persons_changed`.

Whenever a resolution, a new record, a merge or a split moves a customer record from one
person to another, every registered callback is called with the store's connection and a
`PersonsChanged` describing the moves, inside the transaction that wrote the new
`identity_links` (a callback's own writes land with them or not at all; it must not commit).
A part of clientela that keeps per-person results (cached KPI periods, push state, loyalty
balances, planned journey messages) registers a callback to bring them up to date:

    from clientela.identity.events import on_persons_changed

    @on_persons_changed
    def refresh(con, change):
        con.execute("DELETE FROM my_cache WHERE person_id IN (SELECT unnest(?))",
                    [sorted(change.persons)])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class PersonChange:
    """A customer record now belongs to another person (a person id is a customer_id)."""

    customer_id: str
    before: str
    after: str


@dataclass(frozen=True)
class PersonsChanged:
    cause: str
    """'resolve' (a full resolution), 'records' (new or changed customers), 'merge', 'split'
    or 'disabled' (`[identity] enabled = false`: every record its own person again)."""
    changes: tuple[PersonChange, ...]

    @property
    def persons(self) -> frozenset[str]:
        """Every person id that gained or lost a record (before and after)."""
        return frozenset(c.before for c in self.changes) | frozenset(c.after for c in self.changes)


PersonsCallback = Callable[[duckdb.DuckDBPyConnection, PersonsChanged], None]
_callbacks: list[PersonsCallback] = []


def on_persons_changed(callback: PersonsCallback) -> PersonsCallback:
    """Call `callback(con, change)` after each change of persons; usable as a decorator.
    Registering the same callback twice registers it once."""
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def remove_persons_callback(callback: PersonsCallback) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


def listening() -> bool:
    """Whether any callback is registered (a resolution skips listing the moves otherwise)."""
    return bool(_callbacks)


def notify(con: duckdb.DuckDBPyConnection, change: PersonsChanged) -> None:
    """Tell every callback, in registration order; nothing is said when nothing moved."""
    if change.changes:
        for callback in list(_callbacks):
            callback(con, change)
