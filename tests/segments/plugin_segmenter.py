"""A local plugin that registers a segmenter, as a third party would (`--plugin` loads it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clientela.hookspecs import hookimpl
from clientela.kpi import conventions as cv
from clientela.segments.api import Segmenter


def _repeat_or_single(ctx: Any, params: Any) -> Any:
    """`repeat` for two valid orders or more before the as-of instant, else `single`."""
    history = cv.history_at(ctx, at="as_of")
    return history.select(
        "customer_id", orders=history.orders,
        segment=(history.orders >= 2).ifelse("repeat", "single"))


REPEAT = Segmenter(name="repeat", title="Repeat buyers", description="Repeat or single buyers",
                   segment=_repeat_or_single, known_segments=lambda params: ["repeat", "single"])


@hookimpl
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    register(REPEAT)
