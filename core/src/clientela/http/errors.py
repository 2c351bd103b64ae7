"""Errors a connector raises, worded so they can be shown and logged as they are.

The message names the platform, the method, the endpoint path and the
status, plus what the API's error body said; it never carries the query
string (some platforms accept credentials there), a credential, or a full
e-mail address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from clientela.privacy import mask_text

_DETAIL_LIMIT = 300


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask personal data and blank out any secret the server may have echoed back."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = mask_text(" ".join(text.split()))
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def error_detail(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the error bodies platforms send; (None, None) if unrecognised.

    Covers WooCommerce `{"code","message","data":{"status"}}`, Nuvemshop
    `{"code","message","description"}` and `{"error": ...}`, and the common
    `{"errors": ...}` / `{"title","detail"}` shapes.
    """
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code")
    code_text = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None
    parts: list[str] = []
    for name in ("message", "title", "detail", "description", "error", "error_description"):
        value = body.get(name)
        if isinstance(value, str) and value.strip() and value not in parts:
            parts.append(value.strip())
    errors = body.get("errors")
    if isinstance(errors, str):
        parts.append(errors)
    elif isinstance(errors, list):
        for item in errors[:3]:
            if isinstance(item, Mapping):
                text = item.get("message") or item.get("detail")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(item, str):
                parts.append(item)
    elif isinstance(errors, Mapping):
        parts.extend(f"{key}: {value}" for key, value in list(errors.items())[:3])
    return code_text, ("; ".join(parts) or None)


class ConnectorError(RuntimeError):
    """Anything a connector cannot recover from by itself."""


class HttpError(ConnectorError):
    """A call that failed for good (after any retries), or one that must not be retried: the
    one error type of every connector's HTTP calls, whether through `ApiClient` or an
    official SDK (which translates its own exceptions into this one). `transient` says
    whether `RetryPolicy` retries it; `retry_after` is the wait the platform asked for."""

    def __init__(
        self,
        platform: str,
        method: str,
        path: str,
        status: int | None,
        detail: str | None = None,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        transient: bool | None = None,
    ) -> None:
        self.platform = platform
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.code = code
        self.retry_after = retry_after
        self._transient = transient
        what = f"answered {status}" if status is not None else "could not be reached"
        # an SDK call does not always tell its method and path: then the platform alone
        message = f"{platform}: {method} {path} {what}" if method else f"{platform} {what}"
        if code:
            message += f" [{code}]"
        if detail:
            message += f": {detail}"
        super().__init__(message)

    @property
    def transient(self) -> bool:
        """Worth retrying: throttling, server errors, timeouts, resets, garbled bodies."""
        if self._transient is not None:
            return self._transient
        return self.status is not None and (self.status == 429 or self.status >= 500)

    @property
    def throttled(self) -> bool:
        return self.status == 429


def service_errors() -> tuple[type[Exception], ...]:
    """What a call to a platform fails with for reasons outside clientela: an `HttpError`
    after the retries (refused credentials, a rate limit that outlasted them, a server that
    keeps failing), any other `ConnectorError`, a transport error an SDK let through. The
    CLI ends these with exit 1, never as "a bug"; anything else a connector raises is one.
    (A function: `requests` is imported only when an error is being classified.)"""
    import requests

    return (ConnectorError, requests.RequestException)
