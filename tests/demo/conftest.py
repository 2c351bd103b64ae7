"""One small demo store per session: generation is deterministic, so sharing it is safe."""

from __future__ import annotations

import pandas as pd
import pytest

from clientela.demo import DemoData, generate

CUSTOMERS = 2_000
ORDERS = 10_000
SEED = 7


@pytest.fixture(scope="session")
def demo_args() -> dict[str, int]:
    return {"customers": CUSTOMERS, "orders": ORDERS, "seed": SEED}


@pytest.fixture(scope="session")
def demo(demo_args: dict[str, int]) -> DemoData:
    return generate(**demo_args)


@pytest.fixture(scope="session")
def frames(demo: DemoData) -> dict[str, pd.DataFrame]:
    """pandas views with Decimal money kept as Python Decimals (exact arithmetic)."""
    return {name: table.to_pandas() for name, table in demo.tables.items()}
