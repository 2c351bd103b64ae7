"""The engines a metric can run on, each loaded with the same tables.

Used by the conformance fixture and the Spark test: the golden store is
written once to DuckDB (through the real Store), then copied table by table
into every other available engine with its exact column types (DECIMAL
stays DECIMAL, timestamps stay naive UTC), so any difference in results is
the metric's or the engine's, never the loader's.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

_spark: Any = None


def spark_available() -> bool:
    """PySpark importable and a Java runtime on the PATH."""
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


def spark_session() -> Any:
    """One local Spark session per process; UTC session time zone, or timestamps shift."""
    global _spark
    if _spark is None:
        from pyspark.sql import SparkSession

        _spark = (
            SparkSession.builder.master("local[1]")
            .appName("clientela-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.default.parallelism", "1")
            .config(map=dict[str, Any](SESSION_SETTINGS))
            .getOrCreate()
        )
        _spark.sparkContext.setLogLevel("ERROR")
    return _spark


def _spark_type(kind: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_decimal(kind):
        return T.DecimalType(kind.precision, kind.scale)
    if pa.types.is_timestamp(kind):
        return T.TimestampType()
    if pa.types.is_date(kind):
        return T.DateType()
    if pa.types.is_boolean(kind):
        return T.BooleanType()
    if pa.types.is_integer(kind):
        return T.LongType()
    if pa.types.is_floating(kind):
        return T.DoubleType()
    if pa.types.is_list(kind):
        return T.ArrayType(_spark_type(kind.value_type))
    return T.StringType()


SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.ansi.enabled": "false",
}
"""Per-session SQL settings, set again on every new session (see spark_backend)."""


def spark_backend(tables: Mapping[str, pa.Table], *, prefix: str = "") -> BaseBackend:
    """An Ibis PySpark backend with each table registered as a temporary view.

    Each backend gets a Spark session of its own (sharing the one SparkContext): temporary
    views are per session, so two backends holding different `orders` tables (a golden store
    kept for a whole test session, a fixture store of one test) never see each other's."""
    import ibis
    from pyspark.sql import types as T

    spark = spark_session().newSession()
    for key, value in SESSION_SETTINGS.items():
        spark.conf.set(key, value)
    for name, table in tables.items():
        schema = T.StructType([T.StructField(f.name, _spark_type(f.type), True)
                               for f in table.schema])
        frame = spark.createDataFrame([tuple(row.values()) for row in table.to_pylist()]
                                      or [], schema=schema)
        frame.createOrReplaceTempView(prefix + name)
    return ibis.pyspark.connect(spark)


def duckdb_backend(tables: Mapping[str, pa.Table]) -> BaseBackend:
    """A fresh in-memory DuckDB backend holding the tables (for stores not on disk)."""
    import ibis

    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    for name, table in tables.items():
        con.create_table(name, table)
    return con


def store_tables(store: Any) -> dict[str, pa.Table]:
    """Every entity table of a clientela Store, as Arrow, with the store's column types."""
    from clientela.model.entities import ENTITIES

    found: dict[str, pa.Table] = {}
    for model in ENTITIES:
        found[model.table] = store.con.execute(f'SELECT * FROM "{model.table}"').to_arrow_table()
    return found


def engines(tables: Mapping[str, pa.Table], *, spark: bool | None = None
            ) -> Iterator[tuple[str, BaseBackend]]:
    """('duckdb', backend), then ('pyspark', backend) when available (or when `spark` is True)."""
    yield "duckdb", duckdb_backend(tables)
    if spark is None:
        spark = spark_available()
    if spark:
        yield "pyspark", spark_backend(tables)
