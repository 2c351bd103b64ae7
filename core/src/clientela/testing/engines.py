"""The engines a metric can run on, each loaded with the same tables.

Used by the conformance fixture and the cross-engine tests: the golden store
is written once to DuckDB (through the real Store), then copied table by
table into every other engine with its exact column types (DECIMAL stays
DECIMAL, timestamps stay naive UTC, lists stay arrays), so any difference in
results is the metric's or the engine's, never the loader's.

PostgreSQL needs a server: `start_postgres` runs a throwaway one (initdb into
a temporary directory, pg_ctl on a free loopback port) and `postgres_backend`
loads the tables into a fresh database of it.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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


def engines(tables: Mapping[str, pa.Table], *, spark: bool | None = None,
            postgres: PostgresServer | None = None) -> Iterator[tuple[str, BaseBackend]]:
    """('duckdb', backend), then ('pyspark', backend) when available (or when `spark` is
    True), then ('postgres', backend) when a server is given."""
    yield "duckdb", duckdb_backend(tables)
    if spark is None:
        spark = spark_available()
    if spark:
        yield "pyspark", spark_backend(tables)
    if postgres is not None:
        yield "postgres", postgres_backend(tables, postgres)


PG_USER = "clientela"
PG_VERSIONS = Path("/usr/lib/postgresql")
"""Where Debian and Ubuntu install each major version's server binaries (not on the PATH)."""


def postgres_binaries() -> tuple[Path, Path] | None:
    """(initdb, pg_ctl): from the PATH, else from the newest /usr/lib/postgresql/N/bin."""
    found = [shutil.which(name) for name in ("initdb", "pg_ctl")]
    if found[0] and found[1]:
        return Path(found[0]), Path(found[1])
    versions = sorted((p for p in PG_VERSIONS.glob("*/bin") if p.parent.name.isdigit()),
                      key=lambda p: int(p.parent.name), reverse=True)
    for folder in versions:
        initdb, pg_ctl = folder / "initdb", folder / "pg_ctl"
        if initdb.exists() and pg_ctl.exists():
            return initdb, pg_ctl
    return None


def postgres_missing() -> str | None:
    """Why no throwaway PostgreSQL can be run here (None when it can): the server binaries
    or the Python driver Ibis's postgres backend needs are missing."""
    if postgres_binaries() is None:
        return "PostgreSQL's initdb and pg_ctl are not installed"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg (pip install 'clientela[postgres]') is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _unprivileged() -> tuple[list[str], int, int] | None:
    """(command prefix, uid, gid) to run PostgreSQL as `nobody` when we are root (initdb and
    postgres refuse to run as root); None when we are not root."""
    if os.geteuid() != 0:
        return None
    import pwd

    nobody = pwd.getpwnam("nobody")
    if shutil.which("runuser"):
        prefix = ["runuser", "-u", "nobody", "--"]
    elif shutil.which("setpriv"):
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                  "--clear-groups"]
    else:
        raise RuntimeError("running as root, and neither runuser nor setpriv is there to "
                           "start PostgreSQL as an unprivileged user")
    return prefix, nobody.pw_uid, nobody.pw_gid


@dataclass
class PostgresServer:
    """A PostgreSQL server started for tests, trusting local connections of PG_USER."""

    directory: Path
    """Holds the cluster (`data`), the server log (`log`) and the Unix socket."""
    port: int
    pg_ctl: Path
    prefix: tuple[str, ...] = ()
    """How every server command is run (as `nobody`, when we are root)."""
    host: str = "127.0.0.1"
    user: str = PG_USER
    _databases: Iterator[int] = field(default_factory=lambda: itertools.count(1),
                                      repr=False)

    def connect(self, database: str = "postgres") -> BaseBackend:
        import ibis

        return ibis.postgres.connect(host=self.host, port=self.port, user=self.user,
                                     database=database)

    def new_database(self) -> str:
        """A new empty database's name: one per loaded backend, so two stores never meet."""
        name = f"clientela_{os.getpid()}_{next(self._databases)}"
        admin = self.connect()
        try:
            admin.raw_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.disconnect()
        return name

    def log(self) -> str:
        path = self.directory / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server (fast: sessions are cut) and delete its directory; safe to call
        twice."""
        if self.directory.exists():
            subprocess.run([*self.prefix, str(self.pg_ctl), "-D", str(self.directory / "data"),
                            "-m", "fast", "-w", "stop"], capture_output=True, check=False)
            shutil.rmtree(self.directory, ignore_errors=True)


SERVER_SETTINGS = {
    "timezone": "UTC",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
"""A throwaway server: UTC (as every engine here), and no durability, which it never needs."""


def start_postgres(*, attempts: int = 3) -> PostgresServer:
    """initdb a cluster into a new temporary directory and start it on a free 127.0.0.1
    port; stopped (and its directory deleted) by `PostgresServer.stop`, or at exit.

    The cluster uses the C locale, so text compares byte by byte as in DuckDB and Spark,
    and trusts PG_USER from this machine only. As root, everything runs as `nobody`, who
    owns the directory (PostgreSQL refuses to run as root)."""
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed")
    initdb, pg_ctl = binaries
    user = _unprivileged()
    prefix = tuple(user[0]) if user else ()
    directory = Path(tempfile.mkdtemp(prefix="clientela-postgres-"))
    if user:
        os.chown(directory, user[1], user[2])
    data = directory / "data"
    subprocess.run([*prefix, str(initdb), "-D", str(data), "-U", PG_USER, "--auth=trust",
                    "-E", "UTF8", "--locale=C", "--no-sync"],
                   capture_output=True, text=True, check=True)
    options = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
    for _ in range(attempts):  # a free port can be taken before the server binds it
        server = PostgresServer(directory=directory, port=_free_port(), pg_ctl=pg_ctl,
                                prefix=prefix)
        started = subprocess.run(
            [*prefix, str(pg_ctl), "-D", str(data), "-l", str(directory / "log"), "-w",
             "-t", "60", "-o", f"-h {server.host} -p {server.port} -k {directory} {options}",
             "start"], capture_output=True, text=True, check=False)
        if started.returncode == 0:
            atexit.register(server.stop)
            return server
    log = server.log()
    shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log[-2000:]}")


def _postgres_type(kind: pa.DataType) -> str:
    if pa.types.is_decimal(kind):
        return f"NUMERIC({kind.precision},{kind.scale})"
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            raise TypeError("the store's timestamps are naive UTC; got one with a time zone")
        return "TIMESTAMP"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind):
        return "DOUBLE PRECISION"
    if pa.types.is_list(kind):
        return f"{_postgres_type(kind.value_type)}[]"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "TEXT"
    raise TypeError(f"no PostgreSQL type for {kind}")


def postgres_backend(tables: Mapping[str, pa.Table], server: PostgresServer) -> BaseBackend:
    """An Ibis PostgreSQL backend on a new database of `server` holding the tables, each
    with its exact column types (NUMERIC(p, s), TIMESTAMP without time zone, arrays),
    written with COPY and analysed so the planner knows their sizes."""
    backend = server.connect(server.new_database())
    con = backend.con  # the psycopg connection (autocommit: each statement commits)
    for name, table in tables.items():
        columns = ", ".join(f'"{f.name}" {_postgres_type(f.type)}' for f in table.schema)
        names = ", ".join(f'"{f.name}"' for f in table.schema)
        with con.cursor() as cursor:
            cursor.execute(f'CREATE TABLE "{name}" ({columns})')
            if table.num_rows:
                with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                    for row in table.to_pylist():
                        copy.write_row(tuple(row.values()))
            cursor.execute(f'ANALYZE "{name}"')
    return backend
