"""When the engine's cache writes a shared table out: on the second ask for one metric alone
(a table used once is cheaper inline), on the first when the call answers several."""

from __future__ import annotations

import ibis
import pytest

from clientela.kpi.context import TableCache


@pytest.mark.parametrize(("eager", "expected"), [(False, [False, True, True]),
                                                 (True, [True, True, True])])
def test_a_shared_table_is_materialised_on_the_right_ask(eager: bool,
                                                         expected: list[bool]) -> None:
    backend = ibis.duckdb.connect()
    cache = TableCache(backend, materialise=True, eager=eager)
    builds: list[int] = []

    def build() -> ibis.Table:
        builds.append(1)
        return ibis.memtable({"x": [1, 2, 3]})

    seen = []
    for _ in range(3):
        table = cache.shared("t", build)
        seen.append("t" in cache.materialised)
        assert table.x.sum().execute() == 6
    assert seen == expected
    assert len(builds) == (1 if eager else 2)  # lazy: once inline, once to write it out
    cache.release()
    assert cache.materialised == {}


def test_nothing_is_materialised_without_an_owner_that_releases() -> None:
    cache = TableCache(ibis.duckdb.connect(), eager=True)
    cache.shared("t", lambda: ibis.memtable({"x": [1]}))
    assert cache.materialised == {}
