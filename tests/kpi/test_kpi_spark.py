"""The whole built-in catalogue on the golden store, DuckDB vs PySpark: identical tables.

Every metric must first answer with numbers (clientela.testing.conformance.check_catalogue):
the golden store holds every entity, so none of them may agree with the other engine by
having nothing to say. Marked `spark`: skipped when pyspark or Java is missing. Spark runs
with spark.sql.session.timeZone=UTC (clientela.testing.engines).
"""

from __future__ import annotations

import pytest

from clientela.metrics.catalog import builtin_metrics
from clientela.store import Store
from clientela.testing.conformance import check_catalogue
from clientela.testing.engines import spark_available, store_tables

pytestmark = [pytest.mark.spark, pytest.mark.slow,
              pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")]


def test_catalogue_identical_on_duckdb_and_pyspark(clientela_golden_store: Store) -> None:
    from clientela.testing.engines import engines

    backends = list(engines(store_tables(clientela_golden_store), spark=True))
    assert [name for name, _ in backends] == ["duckdb", "pyspark"]
    catalogue = {m.name: m for m in builtin_metrics()}
    series = check_catalogue(backends, catalogue)
    assert {r["metric"] for r in series["pyspark"].rows()} == set(catalogue)
