"""`[engine]`: where the KPIs are computed — the embedded store, a Spark cluster or PostgreSQL.

The metric definitions are Ibis expressions, so the same catalogue runs on any of
these engines; this module only opens the right Ibis backend with the canonical
tables in it:

- `duckdb` (default): the workspace's store file.
- `spark`: a Spark master (`master = "spark://host:7077"`, `"local[*]"`, or unset to
  use the session already running, as on Databricks) and either `tables`, a folder
  written by `clientela export --format parquet`, or `database`, a catalog database
  that holds tables with the canonical names. The session time zone is set to UTC,
  as the store's timestamps are UTC. An export's `identity_links` is registered too, so
  the KPI engine reads persons there as it does on the store (`clientela.kpi.persons`).
- `postgres`: `dsn = "postgresql://user:${PG_PASSWORD}@host:5432/db"`, a database
  holding the canonical tables (naive UTC timestamps).

Commands that keep what they compute (`segments`, `clv`) compute on the engine and write
their derived tables into the workspace's store (`computing_on`), so a push or a report
reads them where it always does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from clientela.agency.parquet_export import ALONGSIDE, PARTITION_COLUMNS
from clientela.config import ConfigError, describe_validation_error
from clientela.model.entities import ENTITIES

ENGINES = ("duckdb", "spark", "postgres")
ENGINE_FLAG_HELP = "duckdb, spark or postgres (default: [engine] kind, else duckdb)."
"""The `--engine` option's help, the same on every command that has it."""
SPARK_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
}
"""Timestamps are UTC wall times; non-ANSI division by zero gives NULL like the other engines."""


class EngineConfig(BaseModel):
    """`[engine]` in clientela.toml (or in a workspace's section)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["duckdb", "spark", "postgres"] = Field(
        default="duckdb", description="duckdb (the store), spark or postgres.")
    master: str | None = Field(default=None, description="Spark master URL; unset: the "
                               "active session, or a new local one.")
    tables: Path | None = Field(default=None, description="Spark: a `clientela export` folder.")
    database: str | None = Field(default=None, description="Spark: a catalog database.")
    dsn: SecretStr | None = Field(default=None, description="PostgreSQL connection URL.")

    @model_validator(mode="after")
    def _complete(self) -> EngineConfig:
        if self.kind == "spark" and (self.tables is None) == (self.database is None):
            raise ValueError("spark needs exactly one of tables (a `clientela export` folder) "
                             "or database (a catalog database)")
        if self.kind == "postgres" and self.dsn is None:
            raise ValueError("postgres needs dsn, e.g. \"postgresql://user:${PG_PASSWORD}@host/db\"")
        return self


def engine_config(raw: dict[str, Any], kind: str | None = None, origin: str = "engine") -> EngineConfig:
    """Validate `[engine]`; `kind` (the `--engine` flag) overrides the file's."""
    data = dict(raw)
    if kind is not None:
        if kind not in ENGINES:
            raise ConfigError(f"--engine {kind!r}: expected one of {', '.join(ENGINES)}")
        data["kind"] = kind
    try:
        return EngineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, origin)) from None


def _check_export(folder: Path) -> None:
    """Refuse a `tables` folder without every canonical table before starting Spark."""
    for model in ENTITIES:
        if not (folder / model.table).exists():
            raise ConfigError(f"engine.tables: {folder / model.table} is missing; write the "
                              "folder with `clientela export --format parquet`")


def spark_backend(config: EngineConfig) -> Any:
    if config.tables is not None:
        _check_export(config.tables)
    import ibis
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    session = SparkSession.getActiveSession() if config.master is None else None
    if session is None:
        builder = (SparkSession.builder.appName("clientela")
                   .config("spark.ui.showConsoleProgress", "false"))
        if config.master is not None:
            builder = builder.master(config.master)
        if (config.master or "local").startswith("local"):
            # one machine: Spark's 200 shuffle partitions cost more than the work
            builder = builder.config("spark.sql.shuffle.partitions", "4")
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    spark = session.newSession()  # views of its own, whatever else the session holds
    for key, value in SPARK_SETTINGS.items():
        spark.conf.set(key, value)
    if config.database is not None:
        spark.catalog.setCurrentDatabase(config.database)
        return ibis.pyspark.connect(spark)
    assert config.tables is not None
    for table in [*(model.table for model in ENTITIES), *ALONGSIDE]:
        folder = config.tables / table
        if not folder.exists():  # (only one of ALONGSIDE: _check_export saw the others)
            continue  # an older export, or a store without CLV scores
        frame = spark.read.parquet(str(folder))
        if table in PARTITION_COLUMNS and "month" in frame.columns:
            frame = frame.drop("month")
        for field in frame.schema.fields:  # naive timestamps read as TIMESTAMP_NTZ
            if isinstance(field.dataType, T.TimestampNTZType):
                frame = frame.withColumn(field.name, F.col(field.name).cast(T.TimestampType()))
        frame.createOrReplaceTempView(table)
    return ibis.pyspark.connect(spark)


def postgres_backend(config: EngineConfig) -> Any:
    import ibis

    assert config.dsn is not None
    return ibis.connect(config.dsn.get_secret_value())


@contextmanager
def open_engine(config: EngineConfig,
                open_store: Callable[[], AbstractContextManager[Any]]) -> Iterator[Any]:
    """What `compute` reads: the store itself for duckdb, an Ibis backend otherwise."""
    if config.kind == "duckdb":
        with open_store() as store:
            yield store
        return
    backend = spark_backend(config) if config.kind == "spark" else postgres_backend(config)
    try:
        yield backend
    finally:
        if config.kind == "postgres":
            backend.disconnect()


@contextmanager
def computing_on(config: EngineConfig, store: Any) -> Iterator[Any]:
    """Where a command that writes derived tables into `store` computes them: `store` itself
    for duckdb, else the engine's Ibis backend (the results still land in `store`)."""
    with open_engine(config, lambda: nullcontext(store)) as source:
        yield source
