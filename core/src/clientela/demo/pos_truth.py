"""The truth of the two-source demo: which records are one person, and KPIs by person.

Computed on the data itself (the e-commerce tables and the POS export), as
every figure of `Truth` is, so a test can compare `clientela kpi` on the
resolved store with it exactly.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from clientela.demo.arrays import POS_SOURCE, SOURCE
from clientela.demo.build import DemoData
from clientela.demo.calendar import UTC_OFFSET_HOURS
from clientela.demo.pos import ORDER_COLUMNS, PosExport
from clientela.demo.truth import ResolutionTruth
from clientela.model import INVALID_ORDER_STATUSES

TRAILING_MONTHS = 12
"""omnichannel_share's trailing window, as the metric defines it."""


def resolution_truth(data: DemoData, export: PosExport) -> ResolutionTruth:
    """Persons and their KPIs, from the e-commerce demo and the POS export drawn from it."""
    ecommerce_ids = data["customers"].column("customer_id").to_pylist()
    pos = export.records
    records = pd.DataFrame({
        "customer_id": [*ecommerce_ids, *pos.customer_id],
        "source": [SOURCE] * len(ecommerce_ids) + [POS_SOURCE] * len(pos),
        "person_id": [*ecommerce_ids, *pos.person_id],
        "kind": ["ecommerce"] * len(ecommerce_ids) + list(pos.kind),
    })
    person_of = dict(zip(records.customer_id, records.person_id, strict=True))

    online = data["orders"].select(["customer_id", "status", "placed_at", "channel"]).to_pandas()
    online["local"] = online.placed_at + pd.Timedelta(hours=UTC_OFFSET_HOURS)  # UTC, naive
    till = export.orders.rename(columns={v: k for k, v in ORDER_COLUMNS.items()})
    till["local"] = pd.to_datetime(till.placed_at).dt.tz_localize(None)  # written in local time
    orders = pd.concat([online[["customer_id", "status", "local", "channel"]],
                        till[["customer_id", "status", "local", "channel"]]])
    orders = orders[~orders.status.isin(list(INVALID_ORDER_STATUSES))
                    & orders.customer_id.notna()]
    orders["person"] = orders.customer_id.map(person_of)
    orders["month"] = orders.local.dt.to_period("M")
    months = pd.period_range(pd.Period(data.truth.start, "M"), pd.Period(data.truth.end, "M"))

    active = orders.groupby("month").person.nunique()
    active_records = orders.groupby("month").customer_id.nunique()
    seen = orders[["person", "month", "channel"]].drop_duplicates()
    omnichannel: dict[str, tuple[int, int]] = {}
    for month in months:
        trailing = seen[(seen.month > month - TRAILING_MONTHS) & (seen.month <= month)]
        channels = trailing.groupby("person").channel.nunique()
        omnichannel[str(month)] = (int((channels >= 2).sum()), len(channels))
    mistyped = pos.loc[pos.kind == "mistyped_cpf", "cpf"].drop_duplicates()
    return ResolutionTruth(
        records=pa.Table.from_pandas(records, preserve_index=False),
        persons=int(records.person_id.nunique()),
        active_by_month={str(m): int(active.get(m, 0)) for m in months},
        active_records_by_month={str(m): int(active_records.get(m, 0)) for m in months},
        omnichannel_by_month=omnichannel,
        mistyped_cpfs=tuple(sorted(mistyped)),
    )
