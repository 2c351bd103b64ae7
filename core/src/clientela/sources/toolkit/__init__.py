"""What a source over a platform's API is built from, besides the HTTP stack (`clientela.http`).

A source lists its streams as `StreamDeclaration`s over a pager
(`page_number_pages`, `link_header_pages`, `chained_pages`) and a mapper, and
returns a `DeclaredSource`. Cursors with a lookback window, deduplication of
re-read records, resumable windows and quarantine of unmappable records come
with it; `ConnectorConfig` holds the settings every source shares. The guide
is docs/connectors.md.
"""

from __future__ import annotations

from clientela.sources.toolkit.config import ConnectorConfig
from clientela.sources.toolkit.cursor import (
    DEFAULT_LOOKBACK,
    Deduplicator,
    StreamCursor,
    Window,
    parse_time,
    utc_now,
)
from clientela.sources.toolkit.declare import DeclaredSource, PageFetcher, StreamDeclaration
from clientela.sources.toolkit.mapping import (
    Mapped,
    MappingError,
    id_or_none,
    money,
    optional_timestamp,
    reject_error,
    rejection,
    required,
    text_or_none,
    timestamp,
)
from clientela.sources.toolkit.pagination import (
    Page,
    chained_pages,
    link_header_pages,
    page_number_pages,
)

__all__ = [
    "DEFAULT_LOOKBACK",
    "ConnectorConfig",
    "DeclaredSource",
    "Deduplicator",
    "Mapped",
    "MappingError",
    "Page",
    "PageFetcher",
    "StreamCursor",
    "StreamDeclaration",
    "Window",
    "chained_pages",
    "id_or_none",
    "link_header_pages",
    "money",
    "optional_timestamp",
    "page_number_pages",
    "parse_time",
    "reject_error",
    "rejection",
    "required",
    "text_or_none",
    "timestamp",
    "utc_now",
]
