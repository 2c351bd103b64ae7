"""One HTTP client for every connector: session, retries, pacing, errors, JSON.

A connector states its platform name, base URL, credentials and limiter;
everything a call needs beyond that (timeouts, retries with backoff,
honouring 429s, reading error bodies, refusing to follow a link to another
host with our credentials) is done here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

from clientela import __version__
from clientela.http.errors import ConnectorError, HttpError, error_detail, scrub
from clientela.http.jsonbody import UnsplittableBody, salvage_array
from clientela.http.ratelimit import NoLimiter, RateLimiter
from clientela.http.retry import RetryPolicy, ThrottleWait, retry_after_seconds

DEFAULT_USER_AGENT = f"clientela/{__version__} (+https://github.com/clientela/clientela)"

Params = Mapping[str, str | int | float | bool | None]
BodyCheck = Callable[[Any, requests.Response], None]


def make_session(
    *,
    user_agent: str | None = None,
    auth: AuthBase | tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """A session with the User-Agent, JSON accept header and credentials set once."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent or DEFAULT_USER_AGENT
    session.headers["Accept"] = "application/json"
    session.headers.update(headers or {})
    if auth is not None:
        session.auth = auth
    return session


def unreachable_reason(url: str, error: BaseException) -> str:
    """Which host could not be reached and why, in words: 'shop.example.com:443: DNS lookup
    failed'. Never the path or query string (they may carry credentials)."""
    parts = urlsplit(url)
    where = parts.hostname or "?"
    if parts.port:
        where += f":{parts.port}"
    text = str(error)
    if isinstance(error, requests.exceptions.SSLError):
        why = "TLS failure" + (": certificate not trusted" if "CERTIFICATE_VERIFY" in text else "")
    elif isinstance(error, requests.Timeout):
        why = "timed out"
    elif "NameResolution" in text or "Name or service not known" in text \
            or "nodename nor servname" in text or "getaddrinfo" in text:
        why = "DNS lookup failed (no such host)"
    elif "Connection refused" in text or "ConnectionRefused" in text:
        why = "connection refused (nothing listening)"
    elif isinstance(error, requests.exceptions.ChunkedEncodingError):
        why = "connection dropped mid-answer"
    elif "reset" in text.lower() or "aborted" in text.lower():
        why = "connection reset"
    else:
        why = type(error).__name__
    return f"{where}: {why}"


def probe(platform: str, url: str, *, timeout: float | None = None) -> None:
    """Check within seconds that `url`'s host answers (DNS, TCP and, for https, TLS), or
    raise an `HttpError` naming the host and why. For a `--dry-run`, which must not spend
    minutes retrying a service it cannot reach: call it before the first request."""
    from clientela.http.retry import PROBE_TIMEOUT

    wait = PROBE_TIMEOUT[0] if timeout is None else timeout
    try:
        requests.head(url, timeout=(wait, wait), allow_redirects=False)
    except requests.RequestException as error:
        raise HttpError(platform, "HEAD", urlsplit(url).path or "/", None,
                        unreachable_reason(url, error), transient=False) from None


@dataclass
class ApiClient:
    platform: str
    """As named in messages: 'WooCommerce', 'Nuvemshop'."""
    base_url: str
    session: requests.Session
    timeout: tuple[float, float] = (10.0, 60.0)
    """(connect, read) seconds."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter = field(default_factory=NoLimiter)
    throttle_wait: ThrottleWait | None = None
    """Seconds to wait after a 429 from the platform's own headers; Retry-After wins."""
    secrets: tuple[str, ...] = ()
    """Values to blank out should a server echo them in an error body."""
    requests_made: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/") + "/"

    # -- addressing -----------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path under the base URL, or a link the API gave us.

        A link to another host is refused: following it would send our
        credentials to someone else.
        """
        if "://" not in path_or_url:
            return urljoin(self.base_url, path_or_url.lstrip("/"))
        ours, theirs = urlsplit(self.base_url), urlsplit(path_or_url)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise ConnectorError(
                f"{self.platform}: refusing to follow a link to another host ({theirs.netloc})"
            )
        return path_or_url

    def path_of(self, url: str) -> str:
        """The path for messages: never the query string, which may hold credentials."""
        return urlsplit(url).path or "/"

    # -- calling --------------------------------------------------------------------

    def _error(self, method: str, url: str, response: requests.Response) -> HttpError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        code, detail = error_detail(body)
        if detail is None and response.text and "json" not in response.headers.get(
            "Content-Type", ""
        ):
            detail = "non-JSON body: " + response.text[:120]
        retry_after = None
        if response.status_code == 429:
            retry_after = retry_after_seconds(response)
            if retry_after is None and self.throttle_wait is not None:
                retry_after = self.throttle_wait(response)
        return HttpError(
            self.platform, method, self.path_of(url), response.status_code,
            scrub(detail, self.secrets) if detail else None,
            code=code, retry_after=retry_after,
        )

    def _send(self, method: str, url: str, params: Params | None,
              body: Any = None) -> requests.Response:
        self.limiter.before_request()
        self.requests_made += 1
        try:
            response = self.session.request(method, url, params=params, json=body,
                                            timeout=self.timeout)
        except requests.exceptions.SSLError as error:
            raise HttpError(self.platform, method, self.path_of(url), None,
                            f"{unreachable_reason(url, error)}", transient=False) from None
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as error:
            raise HttpError(self.platform, method, self.path_of(url), None,
                            unreachable_reason(url, error), transient=True) from None
        self.limiter.after_response(response)
        if response.status_code >= 400:
            raise self._error(method, url, response)
        return response

    def _decode(self, method: str, url: str, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            pass
        try:
            return salvage_array(response.text)
        except UnsplittableBody as error:
            kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
            raise HttpError(self.platform, method, self.path_of(url), response.status_code,
                            f"the body is not valid JSON ({kind}: {error})",
                            transient=True) from None

    def get(self, path_or_url: str, params: Params | None = None) -> requests.Response:
        """GET with retries; a response that comes back is 2xx."""
        url = self.url(path_or_url)
        return self.retry.call(lambda: self._send("GET", url, params))

    def get_json(
        self, path_or_url: str, params: Params | None = None, *, check: BodyCheck | None = None
    ) -> tuple[Any, requests.Response]:
        """GET and decode; list elements that are not valid JSON come back as `BadRecord`s."""
        return self.request_json("GET", path_or_url, params, check=check)

    def post_json(
        self, path_or_url: str, body: Any, *, check: BodyCheck | None = None
    ) -> tuple[Any, requests.Response]:
        """POST a JSON body (GraphQL, search endpoints) and decode the answer."""
        return self.request_json("POST", path_or_url, None, body=body, check=check)

    def request_json(
        self, method: str, path_or_url: str, params: Params | None = None, *,
        body: Any = None, check: BodyCheck | None = None,
    ) -> tuple[Any, requests.Response]:
        """`check(decoded, response)` may raise an `HttpError` for a 200 that is really a
        failure (a GraphQL 'THROTTLED' error, say); a transient one is retried like any."""
        url = self.url(path_or_url)

        def attempt() -> tuple[Any, requests.Response]:
            response = self._send(method, url, params, body)
            decoded = self._decode(method, url, response)
            if check is not None:
                check(decoded, response)
            return decoded, response

        return self.retry.call(attempt)

    def close(self) -> None:
        self.session.close()


