"""The whole built-in catalogue on the golden store, DuckDB vs PySpark: identical tables.

Marked `spark`: skipped when pyspark or Java is missing. Spark runs with
spark.sql.session.timeZone=UTC (clientela.testing.engines).
"""

from __future__ import annotations

import pytest

from clientela.store import Store
from clientela.testing.conformance import check_identical, run_everywhere
from clientela.testing.engines import spark_available, store_tables

pytestmark = [pytest.mark.spark, pytest.mark.slow,
              pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")]


def test_catalogue_identical_on_duckdb_and_pyspark(clientela_golden_store: Store,
                                                   metrics: dict) -> None:
    from clientela.testing.engines import engines

    backends = list(engines(store_tables(clientela_golden_store), spark=True))
    assert [name for name, _ in backends] == ["duckdb", "pyspark"]
    kw = dict(start="2024-10", end="2025-04", grain="quarter", timezone="America/Sao_Paulo",
              catalog=metrics)
    results = run_everywhere(backends, list(metrics), **kw)
    check_identical(results)
    assert len(results["duckdb"]) > 300
    for by in ("channel", "segment"):
        chosen = [name for name, m in metrics.items() if by in m.slices]
        check_identical(run_everywhere(backends, chosen, by=by, start="2025-01",
                                       end="2025-04", timezone="America/Sao_Paulo",
                                       catalog=metrics))
    check_identical(run_everywhere(
        backends, ["revenue", "retention_rate"], catalog=metrics,
        compare=(("2024-01", "2024-07"), ("2024-07", "2025-01"))))
