"""Keeping the demo out of real data, and a half-loaded demo from passing as whole.

The demo writes under the source "demo". A store that already holds other
sources' rows is someone's data: the demo refuses it unless forced. A
previous demo is removed first, so two seeds never mix. While the load runs
the store carries a marker, cleared when the last table lands: an
interrupted demo leaves the marker, and `Store.incomplete_load` says so.
"""

from __future__ import annotations

from clientela.demo.arrays import SOURCE
from clientela.model.entities import ENTITIES
from clientela.store.store import LOADING_MARKER, Store

DEMO_LOAD = "`clientela demo`"


def rows_of_other_sources(store: Store) -> dict[str, int]:
    """Rows per table that did not come from the demo."""
    found = {}
    for model in ENTITIES:
        row = store.con.execute(
            f'SELECT count(*) FROM "{model.table}" WHERE source <> ?', [SOURCE]).fetchone()
        if row and row[0]:
            found[model.table] = int(row[0])
    return found


def remove_demo(store: Store) -> int:
    """Delete every demo row (a previous seed), children first; returns how many."""
    removed = 0
    with store.transaction() as con:
        for model in reversed(ENTITIES):
            removed += len(con.execute(
                f'DELETE FROM "{model.table}" WHERE source = ? RETURNING 1', [SOURCE]).fetchall())
    return removed


def mark_loading(store: Store) -> None:
    store.set_marker(LOADING_MARKER, DEMO_LOAD)


def mark_complete(store: Store) -> None:
    store.set_marker(LOADING_MARKER, None)
