"""What the store sells and what goes into each basket.

Spend per order differs between customers the way it does in a shop: each
customer has a price tier (where in a category's range they usually buy),
so the mean order value is a stable trait of the customer. That gives the
Gamma-Gamma spend model something to find, although spend is not drawn from
Gamma-Gamma itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from clientela.demo import arrays
from clientela.demo.calendar import FloatArray, IntArray
from clientela.demo.vocabulary import CATEGORIES, PRODUCT_COLOURS, PRODUCT_QUALIFIERS

PRODUCTS_PER_STEM = 6
MEAN_EXTRA_LINES = 0.6
MAX_LINES = 5
QUANTITY_MIX = np.array([0.86, 0.11, 0.03])  # 1, 2 or 3 units


@dataclass(frozen=True)
class Catalogue:
    product_id: pa.Array
    sku: pa.Array
    name: pa.Array
    category: IntArray
    price_cents: IntArray
    """In BRL; products of a category are contiguous and sorted by price."""
    category_start: IntArray
    category_size: IntArray
    category_share: FloatArray

    @property
    def category_names(self) -> list[str]:
        return [category[0] for category in CATEGORIES]


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    names: list[str] = []
    skus: list[str] = []
    categories: list[int] = []
    prices: list[int] = []
    sizes: list[int] = []
    for index, (category, stems, low, high, _) in enumerate(CATEGORIES):
        count = len(stems) * PRODUCTS_PER_STEM
        reais = np.exp(rng.uniform(np.log(low), np.log(high), count))
        cents = np.maximum((np.floor(reais / 10) * 10 + 9.9) * 100, low * 100)
        cents = np.round(cents).astype(np.int64)
        stem = np.repeat(np.arange(len(stems)), PRODUCTS_PER_STEM)
        qualifier = rng.integers(0, len(PRODUCT_QUALIFIERS), count)
        colour = rng.integers(0, len(PRODUCT_COLOURS), count)
        order = np.argsort(cents, kind="stable")
        for position in order:
            names.append(
                f"{stems[stem[position]]} {PRODUCT_QUALIFIERS[qualifier[position]]} "
                f"{PRODUCT_COLOURS[colour[position]]}"
            )
            skus.append(f"{category[:3].upper()}-{len(skus) + 1:05d}")
            categories.append(index)
            prices.append(int(cents[position]))
        sizes.append(count)
    size = np.array(sizes, dtype=np.int64)
    return Catalogue(
        product_id=arrays.keys("p", np.arange(1, len(names) + 1), 5),
        sku=pa.array(skus, pa.string()),
        name=pa.array(names, pa.string()),
        category=np.array(categories, dtype=np.int64),
        price_cents=np.array(prices, dtype=np.int64),
        category_start=np.concatenate([[0], np.cumsum(size)[:-1]]),
        category_size=size,
        category_share=np.array([category[4] for category in CATEGORIES]),
    )


@dataclass(frozen=True)
class Lines:
    order: IntArray
    """Index of the order each line belongs to; lines of an order are contiguous."""
    line_number: IntArray
    product: IntArray
    quantity: IntArray


def draw_lines(
    rng: np.random.Generator, catalogue: Catalogue, tier: FloatArray
) -> Lines:
    """Baskets for orders whose buyers have the given price tiers (one tier per order)."""
    n_orders = len(tier)
    per_order = 1 + np.minimum(rng.poisson(MEAN_EXTRA_LINES, n_orders), MAX_LINES - 1)
    order = np.repeat(np.arange(n_orders, dtype=np.int64), per_order)
    line_number = np.arange(len(order), dtype=np.int64) - np.repeat(
        np.cumsum(per_order) - per_order, per_order
    )
    cdf = np.cumsum(catalogue.category_share)
    category = np.searchsorted(cdf / cdf[-1], rng.random(len(order)), side="right")
    quantile = np.clip(tier[order] + rng.normal(0.0, 0.18, len(order)), 0.0, 0.9999)
    product = catalogue.category_start[category] + np.floor(
        quantile * catalogue.category_size[category]
    ).astype(np.int64)
    qcdf = np.cumsum(QUANTITY_MIX)
    quantity = 1 + np.searchsorted(qcdf / qcdf[-1], rng.random(len(order)), side="right")
    return Lines(order=order, line_number=line_number + 1, product=product,
                 quantity=quantity.astype(np.int64))
