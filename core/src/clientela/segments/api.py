"""What a segmenter plugin registers: a way to put each customer in one segment.

A segmenter returns an Ibis table with one row per customer (`customer_id`,
`segment`, plus any score columns), computed as of a date, so segments can
slice any metric and be pushed to a destination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from clientela.metrics.api import NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass(frozen=True)
class Segmenter:
    name: str
    title: str
    description: str
    segment: Callable[..., ir.Table]
    """segment(ctx, params) -> table of customer_id, segment, ..."""
    params: type[BaseModel] = NoParams
