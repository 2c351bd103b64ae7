"""The official client, pointed where it should be, with retries and readable errors.

`mailchimp-marketing` neither retries nor always raises: a 429 or 403 with
no body (what Mailchimp sends at high volume) comes back as a bare
`requests.Response`, so it is checked here. It calls `requests` itself and
takes neither a session nor a retry policy, so each SDK call is wrapped in
the shared `clientela.http.RetryPolicy`, its exceptions translated into
`clientela.http.HttpError` (transient for 429, 5xx and unreachable hosts).
Error text goes through the shared scrubber before it is kept anywhere:
Mailchimp echoes e-mail addresses in its details.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import mailchimp_marketing as mailchimp
import requests
from mailchimp_marketing.api_client import ApiClientError

from clientela.http import HttpError, RetryPolicy, scrub, unreachable_reason
from clientela_mailchimp.config import MailchimpConfig


class MailchimpError(HttpError):
    """A refused call (never retried): `status` and Mailchimp's problem title, details masked."""

    def __init__(self, status: int | None, title: str, detail: str = "") -> None:
        super().__init__("Mailchimp", "", "", status, detail or None, transient=False)
        self.args = (f"Mailchimp {status}: {title}" + (f": {detail}" if detail else ""),)
        self.title = title
        self.detail = detail


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _problem(body: Any) -> tuple[str, str]:
    if isinstance(body, dict):
        detail = str(body.get("detail", ""))
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += " " + "; ".join(f"{e.get('field', '')}: {e.get('message', '')}"
                                      for e in errors if isinstance(e, dict))
        return str(body.get("title", "error")), scrub(detail.strip())
    return "error", scrub(str(body or "")[:200])


def _translate(status: int | None, body: Any) -> Exception:
    if isinstance(body, str) and body.lstrip().startswith("{"):
        # errors come as application/problem+json, which the client leaves as text
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    title, detail = _problem(body)
    if status is None or status == 429 or status >= 500:
        return HttpError("Mailchimp", "", "", status, f"{title} {detail}".strip(),
                         transient=True)
    if status == 403 and not isinstance(body, dict):  # throttling at volume: no JSON body
        return HttpError("Mailchimp", "", "", 403, "without a body (throttled)", transient=True)
    return MailchimpError(status, title, detail)


class Api:
    """One configured client, shared by the worker threads (it keeps no per-call state)."""

    def __init__(self, config: MailchimpConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.client = mailchimp.Client()
        settings: dict[str, Any] = {"api_key": config.api_key.get_secret_value(),
                                    "timeout": config.timeout}
        if config.server:
            settings["server"] = config.server
        self.client.set_config(settings)
        if config.base_url:
            # after set_config, and with no "server" in it: the client replaces that word
            self.client.api_client.host = config.base_url.rstrip("/")
        self.lists = self.client.lists
        self.list_id = config.list_id
        self._retry = RetryPolicy(platform="Mailchimp", attempts=config.max_attempts,
                                  throttle_attempts=config.throttle_attempts, sleep=sleep)

    @property
    def host(self) -> str:
        """The API root the client calls (`https://us21.api.mailchimp.com/3.0`)."""
        return str(self.client.api_client.host)

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._retry.call(lambda: self._once(method, *args, **kwargs))

    def _once(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except ApiClientError as error:
            status = error.status_code
            if status is None:  # the client wraps connection errors without a status
                cause = error.text if isinstance(error.text, BaseException) else \
                    Exception(str(error.text))
                raise HttpError("Mailchimp", "", "", None, unreachable_reason(self.host, cause),
                                transient=True) from None
            raise _translate(status, error.text) from None
        if isinstance(result, requests.Response):
            if not result.ok:
                raise _translate(result.status_code, None)
            return {}
        return result
