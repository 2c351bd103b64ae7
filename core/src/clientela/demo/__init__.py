"""A realistic, deterministic demo retail store, generated in seconds and loaded through the store.

    >>> from clientela.demo import generate, load
    >>> data = generate(customers=2_000, orders=10_000, seed=7)
    >>> data["orders"].num_rows  # doctest: +SKIP
    10000

`generate` returns one Arrow table per entity in the store's exact schema
(source "demo") and the `Truth` it was drawn from; `load` upserts them in
batches, so loading twice changes nothing.
"""

from clientela.demo.build import BLOCK_ORDERS, DemoBuilder, DemoData, Tables, generate
from clientela.demo.calendar import DEFAULT_END, black_friday, black_friday_week, mothers_day
from clientela.demo.load import Progress, load, load_counts
from clientela.demo.truth import CampaignTruth, Truth

__all__ = [
    "BLOCK_ORDERS",
    "DEFAULT_END",
    "CampaignTruth",
    "DemoBuilder",
    "DemoData",
    "Progress",
    "Tables",
    "Truth",
    "black_friday",
    "black_friday_week",
    "generate",
    "load",
    "load_counts",
    "mothers_day",
]
