"""The core's own plugin: the built-in metrics, sources, channels and segmenters.

Registered through the `clientela` entry-point group exactly as a third
party's plugin is, so the hooks are exercised by the product itself.
"""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels.api import Channel
from clientela.hookspecs import hookimpl
from clientela.metrics.api import Metric
from clientela.segments.api import Segmenter
from clientela.sources.api import SourceSpec


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    from clientela.metrics.catalog import builtin_metrics

    for metric in builtin_metrics():
        register(metric)


@hookimpl
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    from clientela.segments.catalog import builtin_segmenters

    for segmenter in builtin_segmenters():
        register(segmenter)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    from clientela.sources.files import FILE_SOURCE

    register(FILE_SOURCE)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    from clientela.channels import BUILTIN_CHANNELS

    for channel in BUILTIN_CHANNELS:
        register(channel)
