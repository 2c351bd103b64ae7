from __future__ import annotations

from datetime import date

import pytest

from clientela.demo import DEFAULT_END, DemoData, generate


def test_same_seed_same_tables_and_truth(demo: DemoData, demo_args: dict[str, int]) -> None:
    again = generate(**demo_args)
    assert again.tables.keys() == demo.tables.keys()
    for name, table in demo.tables.items():
        assert again[name].equals(table), name
    assert again.truth.alpha == demo.truth.alpha
    assert again.truth.campaigns == demo.truth.campaigns
    assert again.truth.per_customer.equals(demo.truth.per_customer)


def test_other_seed_other_store(demo: DemoData, demo_args: dict[str, int]) -> None:
    other = generate(**{**demo_args, "seed": demo_args["seed"] + 1})
    for name in ("customers", "orders", "order_lines", "touches", "loyalty_events"):
        assert not other[name].equals(demo[name]), name


def test_window_ends_on_a_fixed_date_by_default(demo: DemoData) -> None:
    assert date(2025, 12, 31) == DEFAULT_END
    assert demo.truth.end == DEFAULT_END
    assert demo.truth.start == date(2023, 1, 1)
    shifted = generate(customers=200, orders=1_000, seed=3, years=1, end=date(2024, 6, 30))
    assert (shifted.truth.start, shifted.truth.end) == (date(2023, 7, 1), date(2024, 6, 30))


@pytest.mark.parametrize(
    "kwargs", [{"customers": 5}, {"orders": 3}, {"years": 0}, {"seed": -1}]
)
def test_nonsense_sizes_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        generate(**{"customers": 100, "orders": 500, **kwargs})
