"""Keeping the demo out of real data, and a half-loaded demo from passing as whole.

The demo writes under the source "demo", and its point-of-sale export under
"demo-pos" (both are the demo's). A store that already holds other
sources' rows is someone's data: the demo refuses it unless forced. A
previous demo drawn with another seed or size is removed first, so two seeds
never mix (the same one is kept: loading it again changes nothing). While the load runs
the store carries a marker, cleared when the last table lands: an
interrupted demo leaves the marker, and `Store.incomplete_load` says so.
"""

from __future__ import annotations

import json

from clientela.demo.arrays import POS_SOURCE, SOURCE
from clientela.model.entities import ENTITIES
from clientela.store.store import LOADING_MARKER, Store

DEMO_LOAD = "`clientela demo`"
DEMO_SOURCES = (SOURCE, POS_SOURCE)
DEMO_MARKER = "demo"
"""Meta key holding the parameters of the demo in the store (seed and sizes)."""


def rows_of_other_sources(store: Store) -> dict[str, int]:
    """Rows per table that did not come from the demo."""
    found = {}
    for model in ENTITIES:
        row = store.con.execute(
            f'SELECT count(*) FROM "{model.table}" WHERE source NOT IN (?, ?)',
            list(DEMO_SOURCES)).fetchone()
        if row and row[0]:
            found[model.table] = int(row[0])
    return found


def holds_demo_rows(store: Store) -> bool:
    """Whether any demo row is stored: if none, a load can insert rather than upsert."""
    return any(
        store.con.execute(f'SELECT 1 FROM "{model.table}" WHERE source IN (?, ?) LIMIT 1',
                          list(DEMO_SOURCES)).fetchone()
        for model in ENTITIES)


def remove_demo(store: Store) -> int:
    """Delete every demo row (a previous seed), children first; returns how many."""
    return store.remove_source(*DEMO_SOURCES)


def replace_previous_demo(store: Store, parameters: dict[str, int | bool]) -> int:
    """Remove a demo drawn with other parameters (another seed would mix with this one);
    the same parameters keep it, so loading it again finds every row unchanged."""
    wanted = json.dumps(parameters, sort_keys=True)
    previous = store.get_marker(DEMO_MARKER)
    removed = remove_demo(store) if previous != wanted else 0
    store.set_marker(DEMO_MARKER, wanted)
    return removed


def mark_loading(store: Store) -> None:
    store.set_marker(LOADING_MARKER, DEMO_LOAD)


def mark_complete(store: Store) -> None:
    store.set_marker(LOADING_MARKER, None)
