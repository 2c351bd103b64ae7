"""The POS export as files a user would have, loaded the way a user would load them.

The export is written as two CSV files (customers, then orders) and read
back through the files source (`clientela.sources.files`) and the sync
engine, exactly as `clientela import pos_clientes.csv -e customers --map ...`
does: validation, quarantine, the store's customer write path and whatever
hooks on it (identity resolution) all run on the POS rows, which a raw
insert would skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from clientela.demo.arrays import POS_SOURCE, SOURCE
from clientela.demo.pos import (
    CUSTOMER_COLUMNS,
    ECOMMERCE_COLUMNS,
    ORDER_COLUMNS,
    PosExport,
    draw_pos_for,
)
from clientela.sources.files import FileSource, FileSourceConfig
from clientela.store.store import Store
from clientela.sync import SyncSummary, run_sync

CUSTOMERS_FILE = "pos_clientes.csv"
ORDERS_FILE = "pos_vendas.csv"


@dataclass(frozen=True)
class PosFiles:
    customers: Path
    orders: Path


def write_pos_export(export: PosExport, folder: Path) -> PosFiles:
    """Write the export's two CSV files into `folder` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = PosFiles(customers=folder / CUSTOMERS_FILE, orders=folder / ORDERS_FILE)
    export.customers.to_csv(files.customers, index=False)
    export.orders.to_csv(files.orders, index=False)
    return files


def load_pos_export(store: Store, files: PosFiles, context: Mapping[str, Any]
                    ) -> dict[str, SyncSummary]:
    """Import the customers file, then the orders file, through the files source.

    `context` is the validation context an import gets (time zone, reporting currency).
    """
    summaries = {}
    for entity, path, mapping in (("customers", files.customers, CUSTOMER_COLUMNS),
                                  ("orders", files.orders, ORDER_COLUMNS)):
        config = FileSourceConfig(path=path, entity=entity, mapping=dict(mapping),
                                  source_name=POS_SOURCE, delimiter=",")
        summaries[entity] = run_sync(store, POS_SOURCE, FileSource(config), context=context,
                                     kind="import")
    return summaries


def ecommerce_customers(store: Store) -> pd.DataFrame:
    """The demo's e-commerce customers as `draw_pos_for` reads them: a buyer is a customer
    with an order (every buyer's first order is valid; nobody else has one)."""
    columns = ", ".join(f"c.{name}" for name in ECOMMERCE_COLUMNS)
    return store.con.execute(f"""
        SELECT {columns}, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id
                                  AND o.source = ?) AS buyer
        FROM customers c WHERE c.source = ? ORDER BY c.customer_id""",
                             [SOURCE, SOURCE]).df()


def load_pos_demo(store: Store, seed: int, start: date, end: date, folder: Path,
                  context: Mapping[str, Any]) -> dict[str, SyncSummary]:
    """Draw the POS export of the e-commerce demo in the store, write its files into `folder`,
    and import them: the same export as `draw_pos` of the generated tables."""
    export = draw_pos_for(ecommerce_customers(store), seed, start, end)
    return load_pos_export(store, write_pos_export(export, folder), context)
