"""Source plugin API and the built-in file source."""

from clientela.sources.api import Source, SourceBatch, SourceSpec, Stream

__all__ = ["Source", "SourceBatch", "SourceSpec", "Stream"]
