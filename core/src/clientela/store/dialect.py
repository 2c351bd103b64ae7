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
  numeric, and sqlglot makes DuckDB's `/` a double division).

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
        tree = tree.transform(_parameter).transform(_numeric_round)
        sql = tree.sql(dialect=_postgres_dialect())
        sql = sql.replace("DDTHH24", 'DD"T"HH24')
        if params:
            sql = sql.replace("%", "%%")
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
    """A `?` becomes the driver's mark; the list a store statement unnests is text[] (the
    driver sends a list of strings untyped, and PostgreSQL has several `unnest`)."""
    from sqlglot import exp

    if not isinstance(node, exp.Placeholder):
        return node
    mark = exp.var(PARAM_MARK)
    if isinstance(node.parent, exp.Unnest | exp.Explode):
        return exp.cast(mark, exp.DataType.build("TEXT[]", dialect="postgres"))
    return mark
