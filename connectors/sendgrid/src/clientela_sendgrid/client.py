"""The official `sendgrid` client, pointed where it should be, with retries and readable errors.

`python-http-client` (under `SendGridAPIClient`) raises a subclass of
`HTTPError` for every status >= 400 and lets `urllib` errors through; it
never retries, and takes no session or retry policy (it builds a urllib
opener per call). So each call is wrapped in the shared `clientela.http.RetryPolicy`:
a 429, a 5xx or a connection failure becomes a transient `clientela.http.HttpError`,
with the wait SendGrid asked for: `Retry-After` when present, otherwise
`X-RateLimit-Reset` (an epoch second) minus now. Error text goes through the
shared scrubber before it is kept: SendGrid echoes addresses in its messages.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
from collections.abc import Callable, Mapping
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from clientela.http import HttpError, RetryPolicy, scrub, unreachable_reason, wait_from_headers
from clientela_sendgrid.config import SendGridConfig

Clock = Callable[[], float]


class SendGridError(HttpError):
    """A refused call (never retried): the status and SendGrid's `errors[].message`, masked."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__("SendGrid", "", "", status, message or None, transient=False)
        self.args = (f"SendGrid {status}: {message}",)
        self.message = message


def _decode(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = [f"{e.get('field') or ''}: {e.get('message', '')}".lstrip(": ")
                 for e in body["errors"] if isinstance(e, dict)]
        return scrub("; ".join(parts))
    return scrub(str(body or "")[:200])


def wait_hint(headers: Mapping[str, str] | Any, clock: Clock) -> float | None:
    """Seconds SendGrid asked us to wait: Retry-After, else until X-RateLimit-Reset."""
    return wait_from_headers(headers, reset_epoch="X-RateLimit-Reset", clock=clock)


class Api:
    """One configured client. `python-http-client` builds a fresh opener per call, so the worker
    threads can share it."""

    def __init__(self, config: SendGridConfig, sleep: Callable[[float], None] = time.sleep,
                 clock: Clock = time.time) -> None:
        self.config = config
        self.clock = clock
        options: dict[str, Any] = {"api_key": config.api_key.get_secret_value()}
        if config.base_url:
            options["host"] = config.base_url.rstrip("/")
        self.sendgrid = SendGridAPIClient(**options)
        self._retry = RetryPolicy(platform="SendGrid", attempts=config.max_attempts,
                                  throttle_attempts=config.throttle_attempts, sleep=sleep)

    @property
    def host(self) -> str:
        """The API root the client calls (`https://api.sendgrid.com`)."""
        return str(self.sendgrid.host)

    def call(self, method: str, path: str, *, body: Any = None,
             query: Mapping[str, str | int] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON) of `method /v3/<path>`, retried while SendGrid says so."""
        return self._retry.call(lambda: self._once(method, path, body, query))

    def _once(self, method: str, path: str, body: Any,
              query: Mapping[str, str | int] | None) -> tuple[int, Any]:
        node = self.sendgrid.client
        for part in path.strip("/").split("/"):
            node = node._(part)
        try:
            response = getattr(node, method.lower())(request_body=body, query_params=query,
                                                     timeout=self.config.timeout)
        except HTTPError as error:
            status = int(error.status_code)
            decoded = _decode(error.body)
            if status == 429 or status >= 500:
                raise HttpError("SendGrid", "", "", status, _message(decoded) or None,
                                transient=True,
                                retry_after=wait_hint(error.headers, self.clock)) from None
            raise SendGridError(status, _message(decoded)) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as error:
            raise HttpError("SendGrid", "", "", None, unreachable_reason(self.host, error),
                            transient=True) from None
        return int(response.status_code), _decode(response.body)
