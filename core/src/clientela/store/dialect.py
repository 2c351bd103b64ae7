"""The store's SQL on its two databases: written once, in DuckDB's dialect.

DuckDB is the default store and runs the SQL as written. On PostgreSQL
(`clientela.store.postgres`), each statement is translated by sqlglot (the
SQL compiler Ibis uses) and cached, so the store, the consent ledger and the
push engine keep one text of their SQL. sqlglot already rewrites what the two
disagree on in the store's SQL (`QUALIFY` becomes a filtered subquery, `?` a
driver placeholder, `strftime` formats `to_char` ones, `DOUBLE` is `DOUBLE
PRECISION`); the few it leaves alone are handled here:

* `INSERT OR IGNORE` becomes `INSERT ... ON CONFLICT DO NOTHING`;
* a subquery in FROM without an alias gets one (PostgreSQL 15 requires it);
* a literal `T` between date and time in a `to_char` format is quoted (PostgreSQL
  would read `DDTH` as "day with ordinal suffix");
* a literal `%` is doubled for the driver when the statement has parameters;
* a list parameter to `unnest` is cast to `TEXT[]` (every list the store unnests is
  of ids or addresses);
* `round(x, digits)` rounds `CAST(x AS NUMERIC)` (PostgreSQL rounds to digits only a
  numeric, and sqlglot makes DuckDB's `/` a double division);
* `GROUP BY ALL` names the positions of the selected columns that are not aggregates,
  `ORDER BY ALL` those of every selected column;
* `arg_min(x, y)` / `arg_max(x, y)` (PostgreSQL has neither) take the first of
  `array_agg(x ORDER BY y)`, rows without a `y` last;
* `epoch_us(t)` is `extract(epoch from t)` (exact: PostgreSQL's is NUMERIC) in microseconds;
* `regexp_full_match(x, 'p')` is `x ~ '^(?:p)$'`.

The translation writes through a private subclass of sqlglot's PostgreSQL dialect
(`_postgres_dialect`), never through sqlglot's own: sqlglot builds a generator's
dispatch table once per class, on its first use, and Ibis adds its own renames to the
shared PostgreSQL generator when its SQL backends load (`DATE_FROM_PARTS` becomes
`make_date`). Were the store the first to use the shared class, Ibis's renames would
never be seen, and the KPI engine on PostgreSQL would emit functions PostgreSQL lacks.

What the translation cannot express is asked of the dialect by name: the row
hash that tells a changed record from an unchanged one (`row_hash`).
`INSERT OR REPLACE` is not translated: the store writes the portable
`INSERT ... ON CONFLICT (key) DO UPDATE` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from typing import Any, ClassVar

PARAM_MARK = "__clientela_param__"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """How the store's SQL runs on one database."""

    name: str

    def sql(self, text: str, *, params: bool) -> str:
        """`text` (DuckDB's dialect, `?` parameters) as this database runs it."""
        if self.name == "duckdb":
            return text
        return _to_postgres(text, params)

    def row_hash(self, columns: Sequence[str]) -> str:
        """SQL: an md5 over a row's data columns (one definition per database, so rows
        written by any path of the store compare equal when their data is)."""
        if self.name == "duckdb":
            struct = ", ".join(f"{quote(c)} := {quote(c)}" for c in columns)
            return f"md5(CAST(to_json(struct_pack({struct})) AS VARCHAR))"
        return f"md5(CAST(ROW({', '.join(quote(c) for c in columns)}) AS TEXT))"


DUCKDB = Dialect("duckdb")
POSTGRES = Dialect("postgres")


def dialect_of(con: object) -> Dialect:
    """The dialect of a store connection (a DuckDB connection has none of its own)."""
    found = getattr(con, "dialect", None)
    return found if isinstance(found, Dialect) else DUCKDB


@lru_cache(maxsize=1024)
def _to_postgres(text: str, params: bool) -> str:
    import sqlglot
    from sqlglot import exp

    statements = sqlglot.parse(text, read="duckdb")
    names = count(1)
    out = []
    for tree in statements:
        if tree is None:
            continue
        if isinstance(tree, exp.Insert) and tree.args.get("alternative") == "IGNORE":
            tree.set("alternative", None)
            tree.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
        for sub in list(tree.find_all(exp.Subquery)):
            if not sub.alias and isinstance(sub.parent, exp.From | exp.Join):
                sub.set("alias", exp.TableAlias(this=exp.to_identifier(f"_q{next(names)}")))
        tree = tree.transform(_parameter).transform(_numeric_round).transform(_functions)
        for select in list(tree.find_all(exp.Select)):
            _group_by_all(select)
            _order_by_all(select)
        sql = tree.sql(dialect=_postgres_dialect())
        sql = sql.replace("DDTHH24", 'DD"T"HH24')
        if params:
            sql = sql.replace("%", "%%")
        sql = re.sub(f"{PARAM_MARK}(\\w+?){PARAM_MARK}", r"%(\1)s", sql)
        out.append(sql.replace(PARAM_MARK, "%s"))
    return ";\n".join(out)


@lru_cache(maxsize=1)
def _postgres_dialect() -> Any:
    """The store's own PostgreSQL dialect: sqlglot's, with a generator class of its own (and
    its own copy of the rewrite table), so that generating the store's SQL builds and caches
    nothing on sqlglot's shared PostgreSQL generator, which Ibis extends (module docstring)."""
    from sqlglot.dialects.postgres import Postgres

    shared: Any = Postgres.Generator

    class ClientelaStorePostgres(Postgres):
        class Generator(shared):  # type: ignore[misc]
            TRANSFORMS: ClassVar = dict(shared.TRANSFORMS)

    return ClientelaStorePostgres()


def _numeric_round(node: Any) -> Any:
    """`round(x, digits)` on a numeric: PostgreSQL has no `round(double precision, int)`."""
    from sqlglot import exp

    if not isinstance(node, exp.Round) or node.args.get("decimals") is None:
        return node
    node.set("this", exp.cast(node.this, exp.DataType.build("DECIMAL")))
    return node


def _parameter(node: Any) -> Any:
    """A `?` becomes the driver's mark, a DuckDB `$name` its named mark `%(name)s` (with
    parameters given as a mapping); the list a store statement unnests is text[] (the
    driver sends a list of strings untyped, and PostgreSQL has several `unnest`)."""
    from sqlglot import exp

    if not isinstance(node, exp.Placeholder):
        return node
    name = node.this if isinstance(node.this, str) and node.this.isidentifier() else None
    mark = exp.var(f"{PARAM_MARK}{name}{PARAM_MARK}" if name else PARAM_MARK)
    if isinstance(node.parent, exp.Unnest | exp.Explode):
        return exp.cast(mark, exp.DataType.build("TEXT[]", dialect="postgres"))
    return mark


def _group_by_all(select: Any) -> None:
    """DuckDB's `GROUP BY ALL` as PostgreSQL's `GROUP BY 1, 3`: every selected column that
    holds neither an aggregate nor a window function."""
    from sqlglot import exp

    group = select.args.get("group")
    if group is None or not group.args.get("all"):
        return
    positions = [exp.Literal.number(i) for i, column in enumerate(select.expressions, 1)
                 if column.find(exp.AggFunc, exp.Window) is None]
    select.set("group", exp.Group(expressions=positions) if positions else None)


def _functions(node: Any) -> Any:
    """DuckDB's functions PostgreSQL lacks. `arg_min(x, y)` as `(array_agg(x ORDER BY y
    NULLS LAST))[1]`, `arg_max` descending (DuckDB skips the rows whose `y` is NULL; last
    in the order, they are never first); `epoch_us(t)` in whole microseconds; a full
    regular-expression match anchored at both ends."""
    import sqlglot
    from sqlglot import exp

    if isinstance(node, exp.RegexpFullMatch):
        pattern = node.expression
        anchored = (exp.Literal.string(f"^(?:{pattern.name})$") if pattern.is_string else
                    exp.DPipe(this=exp.DPipe(this=exp.Literal.string("^(?:"), expression=pattern),
                              expression=exp.Literal.string(")$")))
        return exp.RegexpLike(this=node.this, expression=anchored)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
        moment = node.expressions[0].sql(dialect=_postgres_dialect())
        return sqlglot.parse_one(f"CAST(EXTRACT(EPOCH FROM {moment}) * 1000000 AS BIGINT)",
                                 read="postgres")
    if not isinstance(node, exp.ArgMin | exp.ArgMax):
        return node
    order = "DESC" if isinstance(node, exp.ArgMax) else "ASC"
    value, key = (node.this.sql(dialect=_postgres_dialect()),
                  node.expression.sql(dialect=_postgres_dialect()))
    return sqlglot.parse_one(f"(ARRAY_AGG({value} ORDER BY {key} {order} NULLS LAST))[1]",
                             read="postgres")


def _order_by_all(select: Any) -> None:
    """DuckDB's `ORDER BY ALL [DESC]` as `ORDER BY 1, 2, ...` in that direction."""
    from sqlglot import exp

    order = select.args.get("order")
    if order is None or len(order.expressions) != 1:
        return
    only = order.expressions[0]
    if not (isinstance(only.this, exp.Var) and only.this.name.upper() == "ALL"):
        return
    order.set("expressions", [
        exp.Ordered(this=exp.Literal.number(i), desc=only.args.get("desc"),
                    nulls_first=only.args.get("nulls_first"))
        for i in range(1, len(select.expressions) + 1)])
