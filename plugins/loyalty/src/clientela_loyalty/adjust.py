"""Manual adjustments: points a person gives or takes, one at a time or from a CSV file.

An adjustment is an `adjust` row of the ledger with source `loyalty`, keyed
`adjust:<id>`, so writing the same file twice changes nothing. A positive
adjustment is a lot that expires like an earn made at that instant; a
negative one may not take more than the member holds then (the balance
never goes negative).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from clientela.model.entities import LoyaltyEvent
from clientela.store import Store
from clientela_loyalty.calendar import expiry_instants, from_micros, to_micros
from clientela_loyalty.history import ENGINE_SOURCE
from clientela_loyalty.rules import LoyaltyRules


class AdjustmentError(ValueError):
    """An adjustment that cannot be written; the message names the row and the field."""


@dataclass(frozen=True)
class Adjustment:
    customer_id: str
    points: int
    at: datetime
    key: str | None = None

    def event_id(self) -> str:
        if self.key:
            return f"adjust:{self.key}"
        text = f"{self.customer_id}|{self.points}|{to_micros(self.at)}"
        return "adjust:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _balance(store: Store, customer_id: str, at: datetime) -> int:
    row = store.con.execute(
        "SELECT coalesce(sum(points), 0) FROM loyalty_events WHERE customer_id = ? "
        "AND occurred_at <= ?", [customer_id, at.replace(tzinfo=None)]).fetchone()
    return int(row[0]) if row else 0


def write_adjustments(store: Store, rules: LoyaltyRules, timezone: str,
                      adjustments: list[Adjustment]) -> int:
    """Validate every adjustment, then write them all in one batch; returns how many."""
    records = []
    for number, adj in enumerate(adjustments, start=1):
        where = f"adjustment {number} ({adj.customer_id})"
        if adj.points == 0:
            raise AdjustmentError(f"{where}: points: expected a non-zero whole number")
        expires = None
        if adj.points > 0:
            moment = np.array([to_micros(adj.at)], dtype=np.int64)
            expires = from_micros(int(expiry_instants(
                moment, rules.expiry_months, rules.expiry_days, timezone,
                month_end=rules.expire_at_month_end)[0]))
        else:
            held = _balance(store, adj.customer_id, adj.at) + sum(
                other.points for other in adjustments[:number - 1]
                if other.customer_id == adj.customer_id and other.at <= adj.at)
            if held + adj.points < 0:
                raise AdjustmentError(f"{where}: points: {adj.points} would leave a negative "
                                      f"balance (the member holds {held} then)")
        records.append(LoyaltyEvent(source=ENGINE_SOURCE, event_id=adj.event_id(),
                                    customer_id=adj.customer_id, kind="adjust",
                                    points=adj.points, occurred_at=adj.at, expires_at=expires))
    if records:
        store.upsert(records)
    return len(records)


def read_adjustments_file(path: Path, default_at: datetime) -> list[Adjustment]:
    """A CSV with columns customer_id, points and optionally at (ISO date or time, UTC) and
    id (the adjustment's own key, so re-importing the file changes nothing)."""
    found = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"customer_id", "points"} - set(reader.fieldnames or ())
        if missing:
            raise AdjustmentError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                  "expected customer_id, points[, at, id]")
        for line, row in enumerate(reader, start=2):
            try:
                points = int(row["points"])
            except ValueError:
                raise AdjustmentError(f"{path}:{line}: points: expected a whole number") from None
            at = default_at
            if row.get("at"):
                try:
                    at = datetime.fromisoformat(row["at"])
                except ValueError:
                    raise AdjustmentError(
                        f"{path}:{line}: at: expected an ISO date such as 2025-03-01") from None
            customer = (row["customer_id"] or "").strip()
            if not customer:
                raise AdjustmentError(f"{path}:{line}: customer_id: expected a customer id")
            found.append(Adjustment(customer, points, at, (row.get("id") or "").strip() or None))
    return found
