"""What the identity graph holds, for `clientela identity stats|show|conflicts`: counts,
one person's records found by a CPF, e-mail or phone, and the conflicts to decide."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from clientela.identity import (
    IDENTITY_CONFLICTS_TABLE,
    IDENTITY_DECISIONS_TABLE,
    IDENTITY_KEYS_TABLE,
    IDENTITY_LINKS_TABLE,
)
from clientela.identity.normalize import normalize_cpf, normalize_email, normalize_phone
from clientela.identity.resolve import stored_config


@dataclass(frozen=True)
class Stats:
    enabled: bool
    records: int
    persons: int
    multi_record_persons: int
    linked_by_rule: dict[str, int]
    """Records in a person of two or more, by the rule that first joined each."""
    conflicts_by_kind: dict[str, int]
    decisions: dict[str, int]
    """Decisions in force, by kind (merge, split)."""


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
         ) -> tuple[Any, ...]:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None  # an aggregate always answers one row
    return tuple(row)


def stats(con: duckdb.DuckDBPyConnection) -> Stats:
    records = int(_one(con, "SELECT count(DISTINCT customer_id) FROM customers")[0])
    linked, people = _one(con, f"SELECT count(*), count(DISTINCT person_id) "
                               f"FROM {IDENTITY_LINKS_TABLE}")
    by_rule = dict(con.execute(f"SELECT rule, count(*) FROM {IDENTITY_LINKS_TABLE} "
                               "GROUP BY rule ORDER BY rule").fetchall())
    conflicts = dict(con.execute(f"SELECT kind, count(*) FROM {IDENTITY_CONFLICTS_TABLE} "
                                 "GROUP BY kind ORDER BY kind").fetchall())
    decisions = dict(con.execute(f"SELECT kind, count(*) FROM {IDENTITY_DECISIONS_TABLE} "
                                 "WHERE revoked_at IS NULL AND kind IN ('merge', 'split') "
                                 "GROUP BY kind ORDER BY kind").fetchall())
    return Stats(stored_config(con).enabled, records, records - int(linked) + int(people),
                 int(people), by_rule, conflicts, decisions)


@dataclass(frozen=True)
class PersonRecord:
    customer_id: str
    source: str
    email: str | None
    phone: str | None
    cpf: str | None
    rule: str | None


@dataclass(frozen=True)
class FoundPerson:
    person_id: str
    matched_by: str
    records: list[PersonRecord] = field(default_factory=list)


def _digests(con: duckdb.DuckDBPyConnection, value: str) -> list[tuple[str, str]]:
    """The keys a value typed by a person can be: (rule, digest)."""
    config = stored_config(con)
    found = [("cpf", normalize_cpf(value)),
             ("email", normalize_email(value, strip_plus=config.strip_plus_addressing)),
             ("phone", normalize_phone(value, country=config.default_country,
                                       area_code=config.default_area_code))]
    if "@" in value:
        found = found[1:2]
    return [(rule, hashlib.md5(key.encode()).hexdigest()) for rule, key in found if key]


def find(con: duckdb.DuckDBPyConnection, value: str) -> list[FoundPerson]:
    """The persons holding a CPF, e-mail or phone (a CPF that fails its check digits, an
    address or a number that cannot be normalised finds nobody)."""
    persons: dict[str, FoundPerson] = {}
    for rule, digest in _digests(con, value):
        rows = con.execute(f"""SELECT DISTINCT COALESCE(l.person_id, k.customer_id)
            FROM {IDENTITY_KEYS_TABLE} k LEFT JOIN {IDENTITY_LINKS_TABLE} l USING (customer_id)
            WHERE k.rule = ? AND k.value = ? ORDER BY 1""", [rule, digest]).fetchall()
        for (person,) in rows:
            persons.setdefault(person, FoundPerson(person, rule))
    for person in persons.values():
        rows = con.execute(f"""SELECT c.customer_id, c.source, c.email, c.phone, c.cpf, l.rule
            FROM customers c LEFT JOIN {IDENTITY_LINKS_TABLE} l USING (customer_id)
            WHERE COALESCE(l.person_id, c.customer_id) = ? ORDER BY c.customer_id, c.source""",
                           [person.person_id]).fetchall()
        person.records.extend(PersonRecord(*row) for row in rows)
    return list(persons.values())


@dataclass(frozen=True)
class ConflictRow:
    conflict_id: str
    kind: str
    rule: str
    key_shown: str | None
    customer_ids: list[str]
    persons: int
    cpfs: int
    detected_at: datetime


def conflicts(con: duckdb.DuckDBPyConnection, *, kind: str | None = None,
              limit: int | None = None) -> tuple[list[ConflictRow], int]:
    """The conflicts (largest first) and how many there are in all."""
    where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
    total = int(_one(con, f"SELECT count(*) FROM {IDENTITY_CONFLICTS_TABLE} {where}",
                     params)[0])
    rows = con.execute(f"""SELECT conflict_id, kind, rule, key_shown, customer_ids, persons,
        cpfs, detected_at FROM {IDENTITY_CONFLICTS_TABLE} {where}
        ORDER BY persons DESC, kind, rule, conflict_id""" + (" LIMIT ?" if limit else ""),
                       [*params, *([limit] if limit else [])]).fetchall()
    return [ConflictRow(*row) for row in rows], total
