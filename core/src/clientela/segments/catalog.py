"""The built-in segmenters. Placeholder until the KPI engine's RFM lands."""

from __future__ import annotations

from clientela.segments.api import Segmenter


def builtin_segmenters() -> list[Segmenter]:
    return []
