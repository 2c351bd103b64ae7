"""The metric example in docs/plugin_hooks.md runs as written and counts what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clientela.demo import generate, load
from clientela.kpi import compute
from clientela.store import Store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md"


def test_register_metrics_example_computes_coupon_orders(tmp_path: Path) -> None:
    section = DOCS.read_text(encoding="utf-8").split("## register_metrics")[1]
    match = re.search(r"```python\n(.*?)```", section.split("## register_sources")[0], re.S)
    assert match is not None
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)
    registered: list[Any] = []
    namespace["register_metrics"](registered.append)
    with Store(tmp_path / "s.duckdb") as store:
        load(store, generate(customers=300, orders=1500, seed=3))
        result = compute(store, registered, start="2025-03", end="2025-04", timezone="UTC")
        expected = store.con.execute(
            "SELECT count(*) FROM orders WHERE coupon IS NOT NULL AND status NOT IN "
            "('cancelled', 'refunded') AND placed_at >= TIMESTAMP '2025-03-01' "
            "AND placed_at < TIMESTAMP '2025-04-01'").fetchone()
    assert expected is not None and expected[0] > 0
    assert result.value("coupon_orders") == expected[0]
