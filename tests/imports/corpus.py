"""A fuzz corpus of orders: every kind of value that once aborted or corrupted an import.

Each record comes with what must happen to it: land (with the value it must
land as) or be quarantined with a reason containing a given phrase. The
corpus is written as CSV, JSONL or Parquet; kinds a format cannot carry are
left out of it (a Parquet string cannot hold invalid UTF-8, a CSV cell cannot
nest JSON).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["order_id", "customer_id", "status", "placed_at", "subtotal", "total", "channel",
           "coupon", "loyalty_points_earned"]
BAD_BYTES_TOKEN = "@@NOT-UTF8@@"
"""Replaced by raw bytes that are not UTF-8 when the file is written."""
DEEP = 100_000


@dataclass
class Case:
    row: dict[str, Any]
    kind: str
    reason: str | None = None
    """A phrase the quarantine reason must contain; None for a record that must land."""
    landed: dict[str, Any] = field(default_factory=dict)
    """Values the landed record must carry (for the good kinds)."""
    raw_line: str | None = None
    """JSONL only: the line as written, when it is not a JSON object."""


def _good(i: int, rng: random.Random) -> Case:
    cents = rng.randint(100, 10_000_000)
    amount = Decimal(cents).scaleb(-2)
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00"
    row = {"order_id": f"G{i}", "customer_id": f"C{rng.randint(1, 500)}", "status": "paid",
           "placed_at": day, "subtotal": str(amount), "total": str(amount), "channel": "online"}
    return Case(row, "good", landed={"total": amount})


BAD_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    # kind: (reason phrase, formats that can carry it)
    "amount_1e16": ("expected an amount below", ("csv", "jsonl", "parquet")),
    "year_0001": ("is before 1900-01-01", ("csv", "jsonl", "parquet")),
    "year_9999": ("is in the future", ("csv", "jsonl", "parquet")),
    "int_2_70": ("less than or equal to 9223372036854775807", ("csv", "jsonl", "parquet")),
    "surrogate": ("not valid Unicode text", ("jsonl",)),
    "bad_utf8": ("not valid Unicode text", ("csv", "jsonl")),
    "huge_cell": ("at most 131,072 are accepted", ("csv", "jsonl", "parquet")),
    "deep_json": ("nested too deeply", ("jsonl",)),
    "unix_integer": ("is a number, not a date", ("csv", "jsonl", "parquet")),
    "negative": ("must not be negative", ("csv", "jsonl", "parquet")),
    "nan_amount": ("finite", ("csv", "jsonl", "parquet")),
    "not_json": ("not valid JSON", ("jsonl",)),
}


def _bad(kind: str, i: int, rng: random.Random) -> Case:
    case = _good(i, rng)
    row = dict(case.row, order_id=f"B{i}")
    reason = BAD_KINDS[kind][0]
    if kind == "amount_1e16":
        row["total"] = row["subtotal"] = str(10**16 + rng.randint(0, 10**6))
    elif kind == "year_0001":
        row["placed_at"] = "0001-01-01T00:00:00"
    elif kind == "year_9999":
        row["placed_at"] = "9999-12-31T23:59:59"
    elif kind == "int_2_70":
        row["loyalty_points_earned"] = str(2**70)
    elif kind == "surrogate":
        row["coupon"] = "A\ud800B"
    elif kind == "bad_utf8":
        row["coupon"] = f"X{BAD_BYTES_TOKEN}Y"
    elif kind == "huge_cell":
        row["coupon"] = "z" * (131_072 + rng.randint(1, 70_000))
    elif kind == "unix_integer":
        row["placed_at"] = str(852_076_800 + i)
    elif kind == "negative":
        row["total"] = "-5.00"
    elif kind == "nan_amount":
        row["total"] = "NaN"
    elif kind == "deep_json":
        line = ('{"order_id": "' + row["order_id"] + '", "coupon": ' + "[" * DEEP + "]" * DEEP
                + "}")
        return Case(row, kind, reason, raw_line=line)
    elif kind == "not_json":
        return Case(row, kind, reason, raw_line='{"order_id": "' + row["order_id"] + '", oops')
    return Case(row, kind, reason)


def corpus(fmt: str, n: int = 10_000, seed: int = 14) -> list[Case]:
    """`n` records: about 8% bad (spread over the kinds this format carries), a few compact
    dates, rounding amounts and repeated keys among the good ones."""
    rng = random.Random(seed)
    kinds = [k for k, (_, formats) in BAD_KINDS.items() if fmt in formats]
    cases: list[Case] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.08:
            cases.append(_bad(kinds[i % len(kinds)], i, rng))
        elif roll < 0.10:
            case = _good(i, rng)
            case.row["placed_at"] = "19970101"  # CDNOW's native format: a date
            case.kind = "compact_date"
            cases.append(case)
        elif roll < 0.12:
            case = _good(i, rng)
            case.row["total"] = case.row["subtotal"] = "19.995"
            case.landed = {"total": Decimal("20.00")}
            case.kind = "rounding"
            cases.append(case)
        elif roll < 0.13 and cases and cases[-1].kind == "good":
            first = cases[-1]  # the same key again, later in the file: this version wins
            again = Case(dict(first.row, total="1.00", subtotal="1.00"), "repeat",
                         landed={"total": Decimal("1.00")})
            first.kind = "superseded"
            cases.append(again)
        else:
            cases.append(_good(i, rng))
    return cases


def write(cases: list[Case], path: Path, fmt: str) -> Path:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for case in cases:
            writer.writerow([case.row.get(c, "") for c in COLUMNS])
        data = buffer.getvalue().encode("utf-8").replace(BAD_BYTES_TOKEN.encode(), b"\xff\xfe")
        path.write_bytes(data)
    elif fmt == "jsonl":
        with path.open("wb") as handle:
            for case in cases:
                line = case.raw_line if case.raw_line is not None else json.dumps(case.row)
                handle.write(line.encode("utf-8").replace(BAD_BYTES_TOKEN.encode(), b"\xff")
                             + b"\n")
    else:
        table = pa.table({c: pa.array([case.row.get(c) for case in cases], pa.string())
                          for c in COLUMNS})
        pq.write_table(table, path, row_group_size=3_000)
    return path


def money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
