"""Keeping erased people erased.

After `clientela forget`, the next sync or import would bring the person's
e-mail and name straight back from the source. Every customer batch passes
through here first: a row whose e-mail digest matches an erasure request is
landed without its personal fields and with every consent `unsubscribed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clientela.model.validation import Rejection
from clientela.privacy import FORGET_REQUESTS_TABLE, PERSONAL_CUSTOMER_FIELDS, email_digest

UNSUBSCRIBED = "unsubscribed"
CONSENT_COLUMNS = ("consent_email", "consent_sms", "consent_whatsapp")


def forgotten_digests(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
        [FORGET_REQUESTS_TABLE],
    ).fetchone()
    if not exists or not exists[0]:
        return frozenset()
    rows = con.execute(f"SELECT DISTINCT email_digest FROM {FORGET_REQUESTS_TABLE}").fetchall()
    return frozenset(str(row[0]) for row in rows)


def scrub_rejections(rejections: Sequence[Rejection], digests: frozenset[str]) -> list[Rejection]:
    """A forgotten person's rejected row is quarantined without its personal fields."""
    scrubbed = []
    for rejection in rejections:
        email = rejection.raw.get("email")
        if digests and isinstance(email, str) and email_digest(email) in digests:
            raw = {k: v for k, v in rejection.raw.items() if k not in PERSONAL_CUSTOMER_FIELDS}
            rejection = replace(rejection, raw=raw, problems=tuple(
                replace(p, value=None) for p in rejection.problems))
        scrubbed.append(rejection)
    return scrubbed


def scrub_forgotten(table: pa.Table, digests: frozenset[str]) -> tuple[pa.Table, int]:
    """Blank the personal fields of forgotten people's rows; returns the table and how many."""
    if not digests or "email" not in table.column_names or table.num_rows == 0:
        return table, 0
    emails = table.column("email").to_pylist()
    mask = [email is not None and email_digest(email) in digests for email in emails]
    hits = sum(mask)
    if not hits:
        return table, 0
    keep = pa.array([not hit for hit in mask])
    for name in (*PERSONAL_CUSTOMER_FIELDS, *CONSENT_COLUMNS):
        if name not in table.column_names:
            continue
        index = table.column_names.index(name)
        column = table.column(name)
        if name in CONSENT_COLUMNS:
            replacement = pa.array([UNSUBSCRIBED] * table.num_rows, column.type)
        else:
            replacement = pa.nulls(table.num_rows, column.type)
        table = table.set_column(index, name, pc.if_else(keep, column, replacement))
    return table, hits
