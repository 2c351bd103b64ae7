"""Running one GraphQL operation: cost pacing, THROTTLED retries, errors worded plainly.

Shopify answers 200 to a throttled query, with `errors[].extensions.code`
THROTTLED and no data; it is turned into a retryable throttling error that
waits just long enough for the bucket to hold the query's cost. Any other
GraphQL error (a field the pinned version does not have, a missing access
scope) fails the sync at once with Shopify's own words, since asking again
would get the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from clientela.http import ApiClient, ConnectorError, HttpError, scrub
from clientela_shopify.queries import Operation, compact
from clientela_shopify.throttle import CostBucket

TRANSIENT_CODES = {"THROTTLED", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}


class GraphQLError(ConnectorError):
    """Shopify refused the operation itself (errors or userErrors): retrying will not help."""

    def __init__(self, operation: str, messages: list[str]) -> None:
        self.operation = operation
        self.messages = messages
        super().__init__(f"Shopify: {operation} failed: " + "; ".join(messages))


class Throttled(HttpError):
    """A 200 whose body says THROTTLED: retried like a 429, after the bucket refills."""

    @property
    def throttled(self) -> bool:
        return True


def _describe(error: Any) -> str:
    if not isinstance(error, Mapping):
        return str(error)
    text = str(error.get("message") or "unknown error")
    path = error.get("path")
    if isinstance(path, list) and path:
        text += f" (at {'.'.join(str(p) for p in path)})"
    code = (error.get("extensions") or {}).get("code") if isinstance(
        error.get("extensions"), Mapping) else None
    return f"{text} [{code}]" if code else text


def error_code(error: Any) -> str | None:
    extensions = error.get("extensions") if isinstance(error, Mapping) else None
    code = extensions.get("code") if isinstance(extensions, Mapping) else None
    return str(code) if code else None


class ShopifyGraphQL:
    """The shop's GraphQL endpoint, on the shared client (retries, 429s, messages)."""

    def __init__(self, client: ApiClient, path: str, bucket: CostBucket) -> None:
        self.client = client
        self.path = path
        self.bucket = bucket
        self.operations: dict[str, int] = {}
        """Calls made per operation name (retries included)."""

    def run(self, operation: Operation, variables: Mapping[str, Any] | None = None, *,
            price_key: str | None = None) -> tuple[dict[str, Any], requests.Response]:
        """The `data` of a successful answer, and the response (for its Date header)."""
        key = price_key or operation.name
        body = {"query": compact(operation.text), "operationName": operation.name,
                "variables": dict(variables or {})}
        secrets = self.client.secrets

        def check(decoded: Any, response: requests.Response) -> None:
            self.operations[operation.name] = self.operations.get(operation.name, 0) + 1
            if not isinstance(decoded, Mapping):
                raise HttpError("Shopify", "POST", self.client.path_of(response.url),
                                response.status_code, "the answer is not a GraphQL response",
                                transient=True)
            extensions = decoded.get("extensions")
            cost = extensions.get("cost") if isinstance(extensions, Mapping) else None
            if isinstance(cost, Mapping):
                self.bucket.observe(key, cost)
            errors = decoded.get("errors")
            if not errors:
                return
            errors = errors if isinstance(errors, list) else [errors]
            codes = {error_code(e) for e in errors}
            message = scrub("; ".join(_describe(e) for e in errors[:3]), secrets)
            path = self.client.path_of(response.url)
            if "THROTTLED" in codes:
                wait = self.bucket.wait_for(self.bucket.price(key))
                raise Throttled("Shopify", "POST", path, response.status_code, message,
                                code="THROTTLED", retry_after=max(wait, 0.1), transient=True)
            if codes & TRANSIENT_CODES:
                raise HttpError("Shopify", "POST", path, response.status_code, message,
                                code=next(iter(codes & TRANSIENT_CODES)), transient=True)
            raise GraphQLError(operation.name, [scrub(_describe(e), secrets)
                                                for e in errors[:5]])

        self.bucket.expect(key)
        decoded, response = self.client.post_json(self.path, body, check=check)
        data = decoded.get("data")
        if not isinstance(data, Mapping):
            raise GraphQLError(operation.name, ["the answer has no data"])
        return dict(data), response


def user_errors(operation: str, payload: Any) -> None:
    """Mutations report refusals in `userErrors` with a 200 and no `errors`: raise them."""
    problems = payload.get("userErrors") if isinstance(payload, Mapping) else None
    if problems:
        raise GraphQLError(operation, [
            (f"{'.'.join(map(str, p.get('field') or []))}: " if p.get("field") else "")
            + str(p.get("message")) for p in problems if isinstance(p, Mapping)])
