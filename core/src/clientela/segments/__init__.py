"""Segmenter plugin API and the built-in segmentations.

`save_segments(store, name, as_of, timezone, currency)` is `clientela segments
<name>` as a function: it scores every customer and replaces `<name>_scores`.
"""

from clientela.segments.api import Segmenter
from clientela.segments.registered import save_segments

__all__ = ["Segmenter", "save_segments"]
