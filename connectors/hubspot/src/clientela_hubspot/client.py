"""The official `hubspot-api-client`, pointed where it should be, retrying 429 on every method.

The client takes a urllib3 `Retry`, but that one skips POST by default
(hubspot-api-python#117), knows neither a separate 429 budget nor HubSpot's
window header, and every write here is a POST; so it is given connection
retries only, and each call is wrapped in the shared `clientela.http.RetryPolicy`:
a 429, a 5xx or a connection failure becomes a transient `clientela.http.HttpError`,
waiting `Retry-After` when HubSpot sends one, else the rate-limit window
(`X-HubSpot-RateLimit-Interval-Milliseconds`). A 429 for the *daily* quota
is not retried: waiting seconds would not help, and the run should stop.

Answers are read as raw JSON (`_preload_content=False`) instead of the
generated models, which drop what they do not know and would hide the
per-row `context` of a 207 multi-status answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import urllib3
from hubspot import HubSpot

from clientela.http import HttpError, RetryPolicy, scrub, unreachable_reason, wait_from_headers
from clientela_hubspot.config import HubSpotConfig


class HubSpotError(HttpError):
    """A refused call (never retried): the status, HubSpot's category and message (masked)."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__("HubSpot", "", "", status, message or None, code=category,
                         transient=False)
        self.args = (f"HubSpot {status} {category}: {message}",)
        self.category = category
        self.message = message


def _decode(raw: Any) -> Any:
    if not raw:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def wait_hint(headers: Any) -> float | None:
    """Retry-After when HubSpot sends one, else the length of its rate-limit window."""
    asked = wait_from_headers(headers)
    if asked is not None:
        return asked
    window = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    try:
        return max(0.0, float(window) * 1e-3) if window is not None else None
    except ValueError:
        return None


class Api:
    """One configured client per API group, shared by the worker threads (urllib3's pool is)."""

    def __init__(self, config: HubSpotConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        options: dict[str, Any] = {
            "access_token": config.access_token.get_secret_value(),
            # connection errors only: statuses (and POSTs) are retried by `call`
            "retry": urllib3.util.Retry(total=2, connect=2, read=0, status=0, redirect=0,
                                        allowed_methods=None,
                                        respect_retry_after_header=False),
            "connection_pool_maxsize": config.max_connections + 1,
        }
        if config.base_url:
            options["host"] = config.base_url.rstrip("/")
        self.hubspot = HubSpot(**options)
        # each attribute access builds a new ApiClient: keep one of each
        self.batch = self.hubspot.crm.contacts.batch_api
        self.basic = self.hubspot.crm.contacts.basic_api
        self.search = self.hubspot.crm.contacts.search_api
        self.properties = self.hubspot.crm.properties.core_api
        self.property_batch = self.hubspot.crm.properties.batch_api
        self.groups = self.hubspot.crm.properties.groups_api
        self.definitions = self.hubspot.communication_preferences.definition_api
        self.subscriptions = self.hubspot.communication_preferences.status_api
        self._retry = RetryPolicy(platform="HubSpot", attempts=config.max_attempts,
                                  throttle_attempts=config.throttle_attempts, sleep=sleep)

    @property
    def host(self) -> str:
        """The API root the client calls (`https://api.hubapi.com`)."""
        return str(self.basic.api_client.configuration.host)

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """(status, decoded JSON) of one client method, retried while HubSpot says so."""
        return self._retry.call(lambda: self._once(method, *args, **kwargs))

    def _once(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
        try:
            response = method(*args, _preload_content=False, **kwargs)
        except urllib3.exceptions.HTTPError as error:  # resets, refused connections
            raise HttpError("HubSpot", "", "", None, unreachable_reason(self.host, error),
                            transient=True) from None
        except Exception as error:
            status = getattr(error, "status", None)
            if status is None or not hasattr(error, "body"):
                raise
            body = _decode(getattr(error, "body", None))
            raise _translate(int(status), body, getattr(error, "headers", None)) from None
        if response is None:
            return 204, None
        return int(response.status), _decode(response.data)


def _translate(status: int, body: Any, headers: Any) -> Exception:
    if isinstance(body, dict):
        category = str(body.get("category") or body.get("errorType") or "ERROR")
        message = scrub(str(body.get("message", "")))
        policy = str(body.get("policyName", ""))
    else:
        category, message, policy = "ERROR", scrub(str(body or "")[:200]), ""
    if status == 429 and policy.upper() == "DAILY":
        return HubSpotError(status, category, f"daily API limit reached: {message}")
    if status == 0 or status == 429 or status >= 500:
        return HttpError("HubSpot", "", "", status or None, f"{category}: {message}",
                         retry_after=wait_hint(headers), transient=True)
    return HubSpotError(status, category, message)
