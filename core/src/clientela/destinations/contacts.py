"""Segment + fields -> one contact row per customer, with the hash the diff compares.

Everything is computed in the store's database next to the data (100k
customers in well under a second on DuckDB), and the hash too, so that an
unchanged push never builds a Python object per customer. The SQL is
DuckDB's, translated for a PostgreSQL store (`clientela.store.dialect`); the
temp views are dropped and created anew (PostgreSQL cannot replace a view
whose columns change) and the consent table is refilled in place (the views
depend on it). Features are as of one instant:

* RFM scores, orders, total spent and last order date come from the KPI
  engine's own definitions (`rfm_table`, `customer_history`), so a pushed
  "total spent" is the number the KPI report shows;
* loyalty points are the sum of `loyalty_events.points` before that instant;
* `clv` and `p_alive` come from a store table `clv_scores(customer_id, clv,
  p_alive)` when one exists (written by the CLV tooling); without it those
  fields are simply not available.

Customers without an e-mail address are never contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from clientela.destinations.api import Contact, FieldSpec
from clientela.destinations.rules import compile_rule
from clientela.identity.analytics import person_map_sql
from clientela.store.derived import CLV_SCORES

CLV_TABLE = CLV_SCORES.name
FEATURES_VIEW = "_push_features"
CONTACTS_VIEW = "_push_contacts"
CONSENT_TABLE = "_push_consent"
"""Temp table: each customer's current e-mail marketing consent from the ledger, and the other
e-mail purposes they opted out of."""

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("rfm_segment", "text", "RFM segment"),
    FieldSpec("r", "number", "RFM recency score"),
    FieldSpec("f", "number", "RFM frequency score"),
    FieldSpec("m", "number", "RFM monetary score"),
    FieldSpec("clv", "number", "Predicted CLV"),
    FieldSpec("p_alive", "number", "P(alive)"),
    FieldSpec("last_order", "date", "Last order date"),
    FieldSpec("orders", "number", "Orders"),
    FieldSpec("total_spent", "number", "Total spent"),
    FieldSpec("avg_ticket", "number", "Average ticket"),
    FieldSpec("loyalty_points", "number", "Loyalty points"),
)
OPTIONAL = frozenset({"clv", "p_alive"})
"""Fields that exist only when the store has them; dropped quietly unless asked for by name."""

RULE_COLUMNS = (*(spec.name for spec in FIELDS), "days_since_last_order", "consent")


class ContactsError(ValueError):
    """A segmentation or field choice that cannot be computed on this store."""


@dataclass(frozen=True)
class Segmentation:
    """A registered segmenter named `name` (rule None; RFM by default) or a rule: customers
    matching it are in one segment named `name`."""

    name: str = "rfm"
    rule: str | None = None

    @classmethod
    def rfm(cls) -> Segmentation:
        return cls()

    @classmethod
    def from_rule(cls, name: str, rule: str) -> Segmentation:
        return cls(name=name, rule=rule)


def choose_fields(names: Sequence[str] | None, con: Any) -> tuple[FieldSpec, ...]:
    has_clv = _has_table(con, CLV_TABLE)
    by_name = {spec.name: spec for spec in FIELDS}
    if names is None:
        return tuple(spec for spec in FIELDS if has_clv or spec.name not in OPTIONAL)
    chosen = []
    for name in names:
        if name not in by_name:
            raise ContactsError(f"unknown field {name!r}; known: {', '.join(by_name)}")
        if name in OPTIONAL and not has_clv:
            raise ContactsError(f"field {name!r} needs the store table {CLV_TABLE} "
                                "(customer_id, clv, p_alive), which this store lacks")
        chosen.append(by_name[name])
    return tuple(chosen)


def _has_table(con: Any, name: str) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                      [name]).fetchone()
    return bool(row and row[0])


def rfm_features(store: object, as_of: datetime, timezone: str, currency: str,
                 segmenter: str = "rfm") -> pa.Table:
    """customer_id, r, f, m, rfm_segment, orders, total_spent, last_at, days_since_last_order
    and chosen_segment (the registered `segmenter`'s) as of `as_of`, through the KPI engine."""
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.conventions import customer_history
    from clientela.kpi.engine import backend_of
    from clientela.kpi.periods import Period
    from clientela.segments.registered import segment_table

    backend = backend_of(store)
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    ctx = MetricContext(backend=backend, period=period, as_of=as_of, timezone=timezone,
                        currency=currency, metric="push", cache=TableCache(backend))
    scored = segment_table(ctx, "rfm")
    # the same segmenter asked twice is computed once
    segmented = scored if segmenter == "rfm" else segment_table(ctx, segmenter)
    chosen = segmented.select(_cid="customer_id", chosen_segment="segment")
    history = customer_history(ctx, until=as_of)
    joined = scored.join(history, "customer_id").select(
        customer_id=scored.customer_id, r=scored.r, f=scored.f, m=scored.m,
        rfm_segment=scored.segment, orders=history.orders, total_spent=history.revenue,
        last_at=history.last_at, days_since_last_order=scored.recency_days,
    )
    joined = joined.left_join(chosen, joined.customer_id == chosen._cid).drop("_cid")
    return joined.to_pyarrow()


def build_contacts(con: Any, features: pa.Table,
                   segmentation: Segmentation, fields: Sequence[FieldSpec], *,
                   as_of: datetime, timezone: str) -> None:
    """Create the temp view `_push_contacts`: customer_id, email, consent, segment, one column
    per field, and `hash` (md5 of everything a destination receives). Consent is the
    ledger's current e-mail marketing state, `opt_outs` the other e-mail purposes it holds an
    opt-out of (see `consent_table`)."""
    for view in (CONTACTS_VIEW, FEATURES_VIEW):  # before what they read is replaced
        con.execute(f"DROP VIEW IF EXISTS {view}")
    consent_table(con)
    con.register("_push_rfm", features)
    # scores are per person when records are resolved into persons: every record of a person
    # carries her scores, her loyalty points and her segment
    persons = person_map_sql(con)
    clv_join = ("LEFT JOIN (SELECT * FROM " + CLV_TABLE + ") v ON v.customer_id = "
                "coalesce(pm.person_id, c.customer_id)" if _has_table(con, CLV_TABLE) else "")
    clv_cols = ("round(CAST(v.clv AS DOUBLE), 2) AS clv, round(CAST(v.p_alive AS DOUBLE), 4) "
                "AS p_alive" if clv_join else "NULL::DOUBLE AS clv, NULL::DOUBLE AS p_alive")
    con.execute(f"""
        CREATE TEMP VIEW {FEATURES_VIEW} AS
        SELECT c.customer_id, c.email,
               CASE k.status WHEN 'opted_in' THEN 'subscribed' WHEN 'opted_out' THEN 'unsubscribed'
                    ELSE CASE WHEN CAST(c.consent_email AS VARCHAR) = 'pending' THEN 'pending'
                              ELSE 'unknown' END END AS consent,
               coalesce(k.source || ': ' || k.evidence, '') AS consent_note, k.opt_outs,
               f.rfm_segment, f.r, f.f, f.m, {clv_cols},
               CAST(timezone({_text(timezone)}, f.last_at AT TIME ZONE 'UTC') AS DATE) AS last_order,
               f.orders, f.total_spent,
               CAST(round(f.total_spent / nullif(f.orders, 0), 2) AS DECIMAL(18, 2)) AS avg_ticket,
               coalesce(l.points, 0) AS loyalty_points,
               f.days_since_last_order, f.chosen_segment
        FROM customers c
        LEFT JOIN ({persons}) pm ON pm.customer_id = c.customer_id
        LEFT JOIN _push_rfm f ON f.customer_id = coalesce(pm.person_id, c.customer_id)
        LEFT JOIN {CONSENT_TABLE} k ON k.customer_id = c.customer_id
        LEFT JOIN (SELECT coalesce(lm.person_id, e.customer_id) AS person_id,
                          CAST(sum(e.points) AS BIGINT) AS points
                   FROM loyalty_events e LEFT JOIN ({persons}) lm ON lm.customer_id = e.customer_id
                   WHERE e.occurred_at < TIMESTAMP {_text(as_of.strftime("%Y-%m-%d %H:%M:%S.%f"))}
                   GROUP BY 1) l ON l.person_id = coalesce(pm.person_id, c.customer_id)
        {clv_join}
        WHERE c.email IS NOT NULL AND c.email <> ''
    """)
    if segmentation.rule is None:
        segment_sql, where = "chosen_segment", "chosen_segment IS NOT NULL"
    else:
        predicate = compile_rule(segmentation.rule, RULE_COLUMNS)
        segment_sql = _text(segmentation.name)
        where = predicate
    names = [spec.name for spec in fields]
    hashed = ["email", "consent", "segment", *(f'"{n}"' for n in names)]
    # NULL must not hash like '' (concat_ws would skip it), hence the marker
    parts = ", ".join(f"coalesce(CAST({part} AS VARCHAR), '\u2400')" for part in hashed)
    signature = _text(",".join(names))
    # opt-outs beyond marketing join the hash only when there are some (concat_ws skips a
    # NULL), so the hash of everybody else stays what it was before they were carried
    con.execute(f"""
        CREATE TEMP VIEW {CONTACTS_VIEW} AS
        SELECT customer_id, email, consent, consent_note, opt_outs, segment,
               {", ".join(f'"{n}"' for n in names) or "NULL AS _none"},
               md5(concat_ws('|', {signature}, {parts},
                             'opt_outs:' || opt_outs)) AS hash
        FROM (SELECT *, {segment_sql} AS segment FROM {FEATURES_VIEW} WHERE {where})
    """)
    if segmentation.rule is not None:  # a rule comparing money with text fails here, at once
        con.execute(f"SELECT {where} FROM {FEATURES_VIEW} LIMIT 1").fetchall()


def consent_table(con: Any) -> None:
    """(Re)fill the temp table of each customer's current e-mail consent: in place, so the
    views built on it see what the ledger has just learned. One row per customer: the
    marketing state (status, source, evidence) and `opt_outs`, the other purposes opted out
    of (comma-separated in `PURPOSES` order; NULL for none)."""
    from clientela.consent import PURPOSES, current_sql

    others = [p for p in PURPOSES if p != "marketing"]
    opt_outs = ", ".join(
        f"max(CASE WHEN purpose = {_text(p)} AND status = 'opted_out' THEN {_text(p)} END)"
        for p in others)
    con.execute(f"""CREATE TEMP TABLE IF NOT EXISTS {CONSENT_TABLE} (customer_id VARCHAR,
                    status VARCHAR, source VARCHAR, evidence VARCHAR, opt_outs VARCHAR)""")
    con.execute(f"DELETE FROM {CONSENT_TABLE}")
    con.execute(f"""INSERT INTO {CONSENT_TABLE} (customer_id, status, source, evidence, opt_outs)
                    SELECT customer_id,
                           max(CASE WHEN purpose = 'marketing' THEN status END),
                           max(CASE WHEN purpose = 'marketing' THEN source END),
                           max(CASE WHEN purpose = 'marketing' THEN evidence END),
                           nullif(concat_ws(',', {opt_outs}), '')
                    FROM ({current_sql()}) WHERE channel = 'email'
                    GROUP BY customer_id""")


def _text(value: str) -> str:
    """A SQL string literal (views take no bound parameters)."""
    return "'" + value.replace("'", "''") + "'"


def segments_of(segmentation: Segmentation, con: Any) -> tuple[str, ...]:
    """Every segment a destination should know about up front: those the segmenter declares
    (whether populated or not, so tags exist before anyone moves into them) plus anything
    else present."""
    if segmentation.rule is not None:
        return (segmentation.name,)
    from clientela.segments.registered import segmenter

    chosen = segmenter(segmentation.name)
    names = list(chosen.known_segments(chosen.params())) if chosen.known_segments else []
    present = [row[0] for row in con.execute(
        f"SELECT DISTINCT segment FROM {CONTACTS_VIEW} ORDER BY 1").fetchall()]
    return tuple(names + [name for name in present if name not in names])


def split_opt_outs(value: str | None) -> tuple[str, ...]:
    """The comma-separated `opt_outs` of the consent table (or of `push_state`) as a tuple."""
    return tuple(part for part in (value or "").split(",") if part)


def to_contacts(rows: pa.Table, fields: Sequence[FieldSpec]) -> list[Contact]:
    names = [spec.name for spec in fields]
    columns = {name: rows.column(name).to_pylist() for name in
               ("customer_id", "email", "consent", "consent_note", "opt_outs", "segment",
                *names)}
    contacts = []
    for index in range(rows.num_rows):
        contacts.append(Contact(
            customer_id=columns["customer_id"][index], email=columns["email"][index],
            consent=columns["consent"][index], segment=columns["segment"][index],
            fields={name: columns[name][index] for name in names},
            consent_note=columns["consent_note"][index] or "",
            opt_outs=split_opt_outs(columns["opt_outs"][index]),
        ))
    return contacts
