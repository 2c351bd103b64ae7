"""Walking a list endpoint page by page, with a token to resume after each page.

Each `Page` carries `resume`: what to ask for next (a page number, a link),
or None on the last page. The sync stores that token with the batch it
covered, so a restarted sync continues from the first page not committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from clientela.http.client import ApiClient, Params
from clientela.http.errors import ConnectorError, HttpError

ItemsOf = Callable[[Any], list[Any]]
EndOn = Callable[[HttpError], bool]


def _as_list(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    raise ConnectorError(f"expected a JSON array, got {type(body).__name__}")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    resume: Any
    """Where the next page is (page number, URL); None after the last page."""
    response: requests.Response | None = None

    @property
    def last(self) -> bool:
        return self.resume is None

    def server_time(self) -> datetime | None:
        """The server's clock (Date header), so cursors never depend on ours."""
        value = self.response.headers.get("Date") if self.response is not None else None
        if not value:
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _header_int(response: requests.Response, name: str | None) -> int | None:
    if not name:
        return None
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def page_number_pages(
    client: ApiClient,
    path: str,
    params: Params,
    *,
    per_page: int,
    start: int = 1,
    page_param: str = "page",
    per_page_param: str = "per_page",
    total_pages_header: str | None = None,
    items: ItemsOf = _as_list,
    end_on: EndOn | None = None,
) -> Iterator[Page]:
    """`?page=N&per_page=M` endpoints; the total-pages header (if any) is re-read on every page,
    so records added while we page are still reached."""
    page = start
    while True:
        query = {**params, page_param: page, per_page_param: per_page}
        try:
            body, response = client.get_json(path, query)
        except HttpError as error:
            if end_on is not None and end_on(error):
                yield Page([], None)
                return
            raise
        found = items(body)
        total = _header_int(response, total_pages_header)
        done = not found or (page >= total if total is not None else len(found) < per_page)
        yield Page(found, None if done else page + 1, response)
        if done:
            return
        page += 1


def link_header_pages(
    client: ApiClient,
    path: str,
    params: Params,
    *,
    resume: str | None = None,
    rel: str = "next",
    items: ItemsOf = _as_list,
    end_on: EndOn | None = None,
) -> Iterator[Page]:
    """Endpoints that give the next page as `Link: <url>; rel="next"` (followed as given)."""
    target: str = resume or path
    query: Params | None = None if resume else params
    while True:
        try:
            body, response = client.get_json(target, query)
        except HttpError as error:
            if end_on is not None and end_on(error):
                yield Page([], None)
                return
            raise
        found = items(body)
        following: str | None = response.links.get(rel, {}).get("url")
        if not following or not found:
            yield Page(found, None, response)
            return
        yield Page(found, following, response)
        target, query = following, None


PassPages = Callable[[Any], Iterator[Page]]
"""One listing of a stream: given its own resume token (or None), its pages."""


def chained_pages(passes: list[PassPages], resume: Any) -> Iterator[Page]:
    """Several listings read one after the other as one stream, resumable across them.

    For APIs where one query cannot return everything (Nuvemshop lists refunded
    orders only when asked for them). The resume token is `{"pass": i, "token": t}`.
    """
    first = int(resume["pass"]) if isinstance(resume, dict) else 0
    token = resume.get("token") if isinstance(resume, dict) else None
    for index in range(first, len(passes)):
        final = index == len(passes) - 1
        for page in passes[index](token if index == first else None):
            if not page.last:
                yield Page(page.items, {"pass": index, "token": page.resume}, page.response)
            elif final:
                yield page
            else:
                yield Page(page.items, {"pass": index + 1, "token": None}, page.response)
