"""Shared mechanics for store-platform connectors.

A connector builds an `ApiClient` (session, retries, pacing, errors), lists
its streams as `StreamDeclaration`s over a pager (`page_number_pages`,
`link_header_pages`) and a mapper, and returns a `DeclaredSource`. Cursors
with a lookback window, deduplication of re-read records, resumable
windows and quarantine of unmappable records come with it.
"""

from __future__ import annotations

from clientela.connectors.config import ConnectorConfig
from clientela.connectors.cursor import (
    DEFAULT_LOOKBACK,
    Deduplicator,
    StreamCursor,
    Window,
    parse_time,
    utc_now,
)
from clientela.connectors.declare import DeclaredSource, PageFetcher, StreamDeclaration
from clientela.connectors.errors import ConnectorError, HttpError, error_detail, scrub
from clientela.connectors.http import DEFAULT_USER_AGENT, ApiClient, make_session
from clientela.connectors.jsonbody import BadRecord, salvage_array, split_array
from clientela.connectors.mapping import (
    Mapped,
    MappingError,
    id_or_none,
    money,
    optional_timestamp,
    rejection,
    required,
    text_or_none,
    timestamp,
)
from clientela.connectors.pagination import (
    Page,
    chained_pages,
    link_header_pages,
    page_number_pages,
)
from clientela.connectors.ratelimit import (
    BucketLimiter,
    BucketReading,
    NoLimiter,
    RateLimiter,
    call_limit_header,
    leaky_bucket_headers,
)
from clientela.connectors.retry import RetryPolicy, retry_after_seconds

__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_USER_AGENT",
    "ApiClient",
    "BadRecord",
    "BucketLimiter",
    "BucketReading",
    "ConnectorConfig",
    "ConnectorError",
    "DeclaredSource",
    "Deduplicator",
    "HttpError",
    "Mapped",
    "MappingError",
    "NoLimiter",
    "Page",
    "PageFetcher",
    "RateLimiter",
    "RetryPolicy",
    "StreamCursor",
    "StreamDeclaration",
    "Window",
    "call_limit_header",
    "chained_pages",
    "error_detail",
    "id_or_none",
    "leaky_bucket_headers",
    "link_header_pages",
    "make_session",
    "money",
    "optional_timestamp",
    "page_number_pages",
    "parse_time",
    "rejection",
    "required",
    "retry_after_seconds",
    "salvage_array",
    "scrub",
    "split_array",
    "text_or_none",
    "timestamp",
    "utc_now",
]
