"""Segmenter plugin API and the built-in segmentations."""

from clientela.segments.api import Segmenter

__all__ = ["Segmenter"]
