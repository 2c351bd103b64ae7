"""The one HTTP stack every connector uses: sources, destinations and channels alike.

- `ApiClient` (`client`): a `requests.Session` with timeouts, pacing, retries, readable
  errors and JSON decoding, for a platform without an official SDK;
- `RetryPolicy` (`retry`): when and how long to retry, on tenacity: exponential backoff
  with full jitter for 5xx, timeouts and resets; `Retry-After` (or the platform's own
  headers) honoured for a 429, with a budget of its own. An SDK-based destination wraps
  each SDK call in the same policy (`policy.call(lambda: ...)`);
- `HttpError` (`errors`): the one error type for a call that failed, retryable or not
  (`transient`), worded to be shown as it is; `scrub` blanks secrets and masks personal
  data in any text a server sent back;
- rate limiters (`ratelimit`) that slow down before a platform's bucket overflows.
"""

from __future__ import annotations

from clientela.http.client import (
    DEFAULT_USER_AGENT,
    ApiClient,
    Params,
    make_session,
    probe,
    unreachable_reason,
)
from clientela.http.errors import ConnectorError, HttpError, error_detail, scrub
from clientela.http.jsonbody import BadRecord, UnsplittableBody, salvage_array, split_array
from clientela.http.ratelimit import (
    BucketLimiter,
    BucketReading,
    NoLimiter,
    RateLimiter,
    call_limit_header,
    leaky_bucket_headers,
)
from clientela.http.retry import (
    NOTICE_LOGGER,
    PROBE_TIMEOUT,
    RetryPolicy,
    announce_retry,
    retry_after_seconds,
    retry_notice,
    wait_from_headers,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "NOTICE_LOGGER",
    "PROBE_TIMEOUT",
    "ApiClient",
    "BadRecord",
    "BucketLimiter",
    "BucketReading",
    "ConnectorError",
    "HttpError",
    "NoLimiter",
    "Params",
    "RateLimiter",
    "RetryPolicy",
    "UnsplittableBody",
    "announce_retry",
    "call_limit_header",
    "error_detail",
    "leaky_bucket_headers",
    "make_session",
    "probe",
    "retry_after_seconds",
    "retry_notice",
    "salvage_array",
    "scrub",
    "split_array",
    "unreachable_reason",
    "wait_from_headers",
]
