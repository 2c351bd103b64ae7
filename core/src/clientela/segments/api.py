"""What a segmenter plugin registers: a way to put each customer in one segment.

A segmenter returns an Ibis table with one row per customer (`customer_id`,
`segment`, plus any score columns), computed as of a date, so segments can
slice any metric (`clientela kpi --by segment --segmenter <name>`), be
pushed to a destination (`clientela push --segment <name>`), be printed and
saved (`clientela segments <name>`) and split the CLV report. Every one of
those paths looks the segmenter up in the registry by name; the built-in
RFM is registered through the same hook and has no special place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from clientela.metrics.api import NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa


@dataclass(frozen=True)
class SegmentSummary:
    """What `clientela segments <name>` prints: one row per segment, plus notes (how a
    model was chosen, how stable it is)."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    """Already formatted, one string per column; the first column is the segment."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Segmenter:
    name: str
    title: str
    description: str
    segment: Callable[..., ir.Table]
    """segment(ctx, params) -> table of customer_id, segment, ..."""
    params: type[BaseModel] = NoParams
    known_segments: Callable[[Any], Sequence[str]] | None = None
    """known_segments(params) -> the segments it can produce, known before computing (a
    destination creates their tags up front); None: only those present are announced."""
    summarize: Callable[[pa.Table], SegmentSummary] | None = None
    """summarize(scored) -> the table to print; None: customers, share and revenue per segment."""
