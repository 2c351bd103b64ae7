"""Resolving the store's customer records into persons: all of them, or those a batch touched.

A full resolution (`resolve_all`) rebuilds every customer's keys and the whole graph. An
incremental one (`resolve_customers`) recomputes only the region the given records can reach
through any key or manual merge, before and after their keys change: persons outside that
region cannot be affected, and inside it the same function runs on the same keys, so the
persons are exactly those a full resolution would give, whatever the order and the batches
the records came in. Both write `identity_links` (a row for each record of a person of two
or more), replace the region's `identity_conflicts`, and call `on_persons_changed`.

The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela.config import IDENTITY_RULES, IdentityConfig
from clientela.identity import (
    IDENTITY_CONFLICTS_TABLE,
    IDENTITY_DECISIONS_TABLE,
    IDENTITY_KEYS_TABLE,
    IDENTITY_LINKS_TABLE,
    IDENTITY_STATE_TABLE,
)
from clientela.identity.events import PersonChange, PersonsChanged, listening, notify
from clientela.identity.graph import Components, RuleKeys, resolve
from clientela.identity.keys import keys_sql, readable_keys_sql

CONFIG_KEY = "identity_config"
"""State key: the `[identity]` settings the graph in this store was built with."""
RESOLVED_KEY = "identity_resolved"
"""State key: set once every customer has keys and links (a full resolution ran)."""
RULE_NAMES = IDENTITY_RULES
ACTIVE_MERGES = f"(SELECT * FROM {IDENTITY_DECISIONS_TABLE} WHERE kind = 'merge' AND revoked_at IS NULL)"
ACTIVE_SPLITS = f"(SELECT * FROM {IDENTITY_DECISIONS_TABLE} WHERE kind = 'split' AND revoked_at IS NULL)"


@dataclass(frozen=True)
class Resolution:
    records: int
    """Customer records resolved (the region, for an incremental resolution)."""
    persons: int
    moved: int
    """Records whose person changed."""
    conflicts: int


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute(f"SELECT value FROM {IDENTITY_STATE_TABLE} WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str | None) -> None:
    con.execute(f"DELETE FROM {IDENTITY_STATE_TABLE} WHERE key = ?", [key])
    if value is not None:
        con.execute(f"INSERT INTO {IDENTITY_STATE_TABLE} VALUES (?, ?)", [key, value])


def stored_config(con: duckdb.DuckDBPyConnection) -> IdentityConfig:
    """The settings this store's graph follows (the defaults until a workspace binds its own)."""
    text = _meta(con, CONFIG_KEY)
    return IdentityConfig() if text is None else IdentityConfig.model_validate_json(text)


def bind_config(con: duckdb.DuckDBPyConnection, config: IdentityConfig) -> Resolution | None:
    """Make the store follow the workspace's `[identity]`: when it differs from what the graph
    was built with, resolve everything again (or, disabled, drop every link). The caller owns
    the transaction. Returns what a resolution did, None when nothing had to change."""
    text = config.model_dump_json()
    # compared with the settings the graph was built with: a store no workspace bound yet
    # was built with the defaults, so the same rules do not cost a full resolution (nor
    # replace links the store holds)
    if config == stored_config(con) and (_meta(con, RESOLVED_KEY) or not config.enabled):
        if _meta(con, CONFIG_KEY) != text:
            _set_meta(con, CONFIG_KEY, text)
        return None
    _set_meta(con, CONFIG_KEY, text)
    if not config.enabled:
        return disable(con)
    return resolve_all(con, config)


def disable(con: duckdb.DuckDBPyConnection) -> Resolution:
    """Every customer its own person: no links, keys or conflicts (decisions are kept)."""
    moved = con.execute(f"SELECT customer_id, person_id FROM {IDENTITY_LINKS_TABLE} "
                        "WHERE customer_id <> person_id").fetchall()
    for table in (IDENTITY_LINKS_TABLE, IDENTITY_KEYS_TABLE, IDENTITY_CONFLICTS_TABLE):
        con.execute(f"DELETE FROM {table}")
    _set_meta(con, RESOLVED_KEY, None)
    notify(con, PersonsChanged("disabled", tuple(PersonChange(c, p, c) for c, p in moved)))
    return Resolution(0, 0, len(moved), 0)


def resolve_all(con: duckdb.DuckDBPyConnection, config: IdentityConfig | None = None,
                *, cause: str = "resolve") -> Resolution:
    """Rebuild every customer's keys and every person."""
    config = config or stored_config(con)
    if not config.enabled:
        return disable(con)
    con.execute(f"DELETE FROM {IDENTITY_KEYS_TABLE}")
    con.execute(f"INSERT INTO {IDENTITY_KEYS_TABLE} {keys_sql(config)}")
    _region(con, "SELECT DISTINCT customer_id FROM customers")
    result = _recompute(con, config, cause)
    _set_meta(con, RESOLVED_KEY, "1")
    return result


def link_batch(con: duckdb.DuckDBPyConnection, table: pa.Table) -> Resolution | None:
    """The store's customer write path: the records of `table` just landed; bring their
    persons up to date (nothing when `[identity] enabled = false`)."""
    config = stored_config(con)
    if not config.enabled or table.num_rows == 0:
        return None
    if _meta(con, RESOLVED_KEY) is None:
        return resolve_all(con, config, cause="records")
    return resolve_customers(con, pc.unique(table.column("customer_id")).to_pylist(), config)


def resolve_customers(con: duckdb.DuckDBPyConnection, customer_ids: Iterable[str],
                      config: IdentityConfig | None = None, *,
                      cause: str = "records") -> Resolution:
    """Bring the persons of these (new, changed, merged or split) records up to date."""
    config = config or stored_config(con)
    if not config.enabled:
        return Resolution(0, 0, 0, 0)
    if _meta(con, RESOLVED_KEY) is None:
        return resolve_all(con, config, cause=cause)
    seeds = pa.table({"customer_id": pa.array(sorted(set(customer_ids)), pa.string())})
    con.register("_identity_seeds", seeds)
    try:
        alone = not _touches_others(con, before=True)
        _region(con, "SELECT customer_id FROM _identity_seeds")
        if not alone:
            _expand_region(con)  # through the keys as they were: the persons they may leave
        con.execute(f"DELETE FROM {IDENTITY_KEYS_TABLE} WHERE customer_id IN "
                    "(SELECT customer_id FROM _identity_seeds)")
        con.execute(f"""INSERT INTO {IDENTITY_KEYS_TABLE} {keys_sql(config, '''(SELECT * FROM
                        customers WHERE customer_id IN (SELECT customer_id FROM _identity_seeds))''')}""")
        if alone and not _touches_others(con, before=False):
            # persons of their own before and after (a first sync's new customers): no
            # link or conflict to write, nobody moved
            return Resolution(len(seeds), len(seeds), 0, 0)
    finally:
        con.unregister("_identity_seeds")
    _expand_region(con)  # and as they are: the persons they may join
    return _recompute(con, config, cause)


def _region(con: duckdb.DuckDBPyConnection, select: str) -> None:
    """`_identity_region`, a temporary table of the session, made afresh from `select`
    (dropped and created: PostgreSQL has no CREATE OR REPLACE TABLE)."""
    con.execute("DROP TABLE IF EXISTS _identity_region")
    con.execute(f"CREATE TEMP TABLE _identity_region AS {select}")


def _touches_others(con: duckdb.DuckDBPyConnection, *, before: bool) -> bool:
    """Whether a record of `_identity_seeds` has to do with any other: before its keys change,
    a link, a conflict or a decision; after, a key another record holds or a link either way.
    A record that has none of these was, and stays, a person of its own."""
    seeds = "(SELECT customer_id FROM _identity_seeds)"
    if before:
        sql = f"""SELECT EXISTS (SELECT 1 FROM {IDENTITY_LINKS_TABLE} WHERE customer_id IN {seeds})
            OR EXISTS (SELECT 1 FROM {IDENTITY_CONFLICTS_TABLE}, unnest(customer_ids) AS u(c)
                       WHERE c IN {seeds})
            OR EXISTS (SELECT 1 FROM {IDENTITY_DECISIONS_TABLE} WHERE revoked_at IS NULL
                       AND (customer_id IN {seeds} OR other_id IN {seeds}))"""
    else:
        sql = f"""SELECT EXISTS (SELECT 1 FROM {IDENTITY_KEYS_TABLE} own
                JOIN {IDENTITY_KEYS_TABLE} other ON other.rule = own.rule
                AND other.value = own.value AND other.customer_id <> own.customer_id
                WHERE own.customer_id IN {seeds})
            OR EXISTS (SELECT 1 FROM {IDENTITY_KEYS_TABLE} WHERE rule = 'link'
                       AND (customer_id IN {seeds} OR value IN {seeds}))"""
    row = con.execute(sql).fetchone()
    return bool(row and row[0])


def _expand_region(con: duckdb.DuckDBPyConnection) -> None:
    """Grow `_identity_region` until no key, link or manual merge leads out of it."""
    # two scans of the key table per step: the region's own keys, then every record holding
    # one of them or linking into the region
    step = f"""INSERT INTO _identity_region
        WITH region AS (SELECT customer_id FROM _identity_region),
        touched AS MATERIALIZED (SELECT rule, value FROM {IDENTITY_KEYS_TABLE}
                                 WHERE customer_id IN (SELECT customer_id FROM region))
        SELECT DISTINCT reached FROM (
            SELECT k.customer_id AS reached FROM {IDENTITY_KEYS_TABLE} k
            WHERE EXISTS (SELECT 1 FROM touched t WHERE t.rule = k.rule AND t.value = k.value)
               OR (k.rule = 'link' AND k.value IN (SELECT customer_id FROM region))
            UNION ALL
            SELECT value FROM touched WHERE rule = 'link'
            UNION ALL
            SELECT d.other_id FROM {ACTIVE_MERGES} d
            JOIN region r ON d.customer_id = r.customer_id
            UNION ALL
            SELECT d.customer_id FROM {ACTIVE_MERGES} d
            JOIN region r ON d.other_id = r.customer_id)
        WHERE reached NOT IN (SELECT customer_id FROM region)
        RETURNING customer_id"""
    while con.execute(step).fetchone() is not None:  # a step that added no one ends it
        pass


def _rule_keys(rule: str, nodes: np.ndarray, rules: np.ndarray, values: np.ndarray,
               rule_names: list[str]) -> RuleKeys:
    if rule not in rule_names:
        return RuleKeys(rule, np.zeros(0, np.int64), np.zeros(0, np.int64))
    mask = rules == rule_names.index(rule)
    return RuleKeys(rule, nodes[mask], values[mask])


def _recompute(con: duckdb.DuckDBPyConnection, config: IdentityConfig,
               cause: str) -> Resolution:
    """Resolve the records of `_identity_region` and write their links and conflicts."""
    ids = con.execute("""SELECT DISTINCT customer_id FROM customers
        WHERE customer_id IN (SELECT customer_id FROM _identity_region)
        ORDER BY customer_id""").to_arrow_table()
    customer_ids = ids.column("customer_id").combine_chunks() if ids.num_rows else pa.array(
        [], pa.string())
    count = len(customer_ids)
    con.register("_identity_nodes", pa.table({
        "customer_id": customer_ids, "node": pa.array(np.arange(count, dtype=np.int64))}))
    # the keys leave DuckDB once, as Arrow; each distinct value gets an integer code by
    # dictionary encoding (a hash pass), and the dictionary gives a conflict's digest back.
    # Codes are shared across rules, which is harmless: every rule is resolved on its own.
    rule_names: list[str] = list(RULE_NAMES)
    found = con.execute(f"""SELECT n.node, k.rule, k.value
        FROM {IDENTITY_KEYS_TABLE} k JOIN _identity_nodes n USING (customer_id)
        UNION ALL
        SELECT n.node, 'link', n.customer_id
        FROM _identity_nodes n
        WHERE n.customer_id IN (SELECT value FROM {IDENTITY_KEYS_TABLE} WHERE rule = 'link')
        """).to_arrow_table()
    encoded = found.column("value").combine_chunks().dictionary_encode() if found.num_rows \
        else pa.array([], pa.string()).dictionary_encode()
    nodes = found.column("node").to_numpy().astype(np.int64, copy=False)
    rule_of = pc.index_in(found.column("rule"), value_set=pa.array(rule_names)).to_numpy(
        zero_copy_only=False).astype(np.int64)
    values = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key_values = encoded.dictionary
    rules = [_rule_keys(rule, nodes, rule_of, values, rule_names) for rule in config.rules]
    isolated = np.zeros(count, dtype=bool)
    split = _numpy(con.execute(f"SELECT n.node FROM {ACTIVE_SPLITS} d JOIN _identity_nodes n "
                               "USING (customer_id)").fetch_arrow_table())["node"]
    isolated[np.asarray(split, dtype=np.int64)] = True
    merges = _numpy(con.execute(f"""SELECT a.node AS a, b.node AS b FROM {ACTIVE_MERGES} d
        JOIN _identity_nodes a ON a.customer_id = d.customer_id
        JOIN _identity_nodes b ON b.customer_id = d.other_id""").fetch_arrow_table())
    components = resolve(
        count, rules, cpf=_rule_keys("cpf", nodes, rule_of, values, rule_names),
        manual=(np.asarray(merges["a"], np.int64), np.asarray(merges["b"], np.int64)),
        isolated=isolated, shared_limit=config.shared_key_limit, policy=config.conflict_policy)
    con.unregister("_identity_nodes")
    moved = _write_links(con, customer_ids, components, cause)
    conflicts = _write_conflicts(con, config, customer_ids, components, key_values)
    persons = int(np.count_nonzero(components.labels == np.arange(count)))
    return Resolution(count, persons, moved, conflicts)


def _numpy(table: pa.Table) -> dict[str, np.ndarray]:
    """A result's columns as int64 arrays (node numbers; empty when there are no rows)."""
    return {name: table.column(name).to_numpy().astype(np.int64) for name in table.column_names}


def _write_links(con: duckdb.DuckDBPyConnection, customer_ids: pa.Array,
                 components: Components, cause: str) -> int:
    linked = np.flatnonzero(components.joined >= 0)
    rules = pa.DictionaryArray.from_arrays(pa.array(components.joined[linked], pa.int32()),
                                           pa.array(components.rule_names, pa.string()))
    links = pa.table({
        "customer_id": customer_ids.take(pa.array(linked)),
        "person_id": customer_ids.take(pa.array(components.labels[linked])),
        "rule": rules.cast(pa.string()),
    })
    con.execute("DROP TABLE IF EXISTS _identity_before")
    con.execute(f"""CREATE TEMP TABLE _identity_before AS
        SELECT customer_id, person_id, rule FROM {IDENTITY_LINKS_TABLE}
        WHERE customer_id IN (SELECT customer_id FROM _identity_region)""")
    con.register("_identity_new_links", links)
    try:
        # only the rows that change are deleted and written: deleting from a table with a
        # primary key costs far more than inserting, and a link that stays keeps its linked_at
        differs = """FROM {} x LEFT JOIN {} y USING (customer_id)
            WHERE y.customer_id IS NULL OR x.person_id <> y.person_id OR x.rule <> y.rule"""
        con.execute(f"""DELETE FROM {IDENTITY_LINKS_TABLE} WHERE customer_id IN (
            SELECT x.customer_id {differs.format('_identity_before', '_identity_new_links')})""")
        con.execute(f"""INSERT INTO {IDENTITY_LINKS_TABLE} SELECT x.customer_id, x.person_id,
            x.rule, ? {differs.format('_identity_new_links', '_identity_before')}""", [_now()])
        moves = """FROM _identity_before b FULL JOIN _identity_new_links a USING (customer_id)
            WHERE COALESCE(b.person_id, customer_id) <> COALESCE(a.person_id, customer_id)"""
        if listening():
            changed = con.execute(f"""SELECT customer_id, COALESCE(b.person_id, customer_id),
                COALESCE(a.person_id, customer_id) {moves} ORDER BY customer_id""").fetchall()
            notify(con, PersonsChanged(cause, tuple(PersonChange(*row) for row in changed)))
            moved = len(changed)
        else:
            row = con.execute(f"SELECT count(*) {moves}").fetchone()
            moved = int(row[0]) if row else 0
    finally:
        con.unregister("_identity_new_links")
    con.execute("DROP TABLE IF EXISTS _identity_before")
    return moved


def _write_conflicts(con: duckdb.DuckDBPyConnection, config: IdentityConfig,
                     customer_ids: pa.Array, components: Components,
                     key_values: pa.Array) -> int:
    con.execute(f"""DELETE FROM {IDENTITY_CONFLICTS_TABLE} WHERE conflict_id IN (
        SELECT conflict_id FROM {IDENTITY_CONFLICTS_TABLE}, unnest(customer_ids) AS u(c)
        WHERE c IN (SELECT customer_id FROM _identity_region))""")
    if not components.conflicts:
        return 0
    rows = []
    for conflict in components.conflicts:
        digest = str(key_values[conflict.key].as_py())
        members = customer_ids.take(pa.array(conflict.nodes)).to_pylist()
        ident = hashlib.sha256(f"{conflict.kind}|{conflict.rule}|{digest}".encode()).hexdigest()
        rows.append((ident[:16], conflict.kind, conflict.rule, digest, members,
                     conflict.persons, conflict.cpfs))
    shown = _shown(con, config, rows)
    table = pa.table({
        "conflict_id": [r[0] for r in rows], "kind": [r[1] for r in rows],
        "rule": [r[2] for r in rows], "key_digest": [r[3] for r in rows],
        "key_shown": pa.array([shown.get((r[2], r[3])) for r in rows], pa.string()),
        "customer_ids": pa.array([r[4] for r in rows], pa.list_(pa.string())),
        "persons": pa.array([r[5] for r in rows], pa.int32()),
        "cpfs": pa.array([r[6] for r in rows], pa.int32()),
        "detected_at": pa.array([_now()] * len(rows), pa.timestamp("us"))})
    names = ", ".join(table.column_names)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in table.column_names[1:])
    con.register("_identity_conflict_rows", table)
    try:
        con.execute(f"""INSERT INTO {IDENTITY_CONFLICTS_TABLE} ({names})
            SELECT {names} FROM _identity_conflict_rows
            ON CONFLICT (conflict_id) DO UPDATE SET {updates}""")
    finally:
        con.unregister("_identity_conflict_rows")
    return len(rows)


def _shown(con: duckdb.DuckDBPyConnection, config: IdentityConfig,
           rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], str]:
    """Each conflict's key as a person may see it: masked (a link is a customer_id)."""
    from clientela.privacy import mask_cpf, mask_email, mask_phone

    holders = sorted({member for *_, members, _p, _c in rows for member in members})
    found = con.execute(f"""{readable_keys_sql(config, '''(SELECT * FROM customers
        WHERE customer_id IN (SELECT unnest(CAST(? AS VARCHAR[]))))''')}""", [holders]).fetchall()
    maskers = {"cpf": mask_cpf, "email": mask_email, "phone": mask_phone}
    return {(rule, digest): maskers.get(rule, str)(value) for _, rule, value, digest in found}
