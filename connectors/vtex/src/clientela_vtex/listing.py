"""Walking VTEX's two listings: the OMS order list (plus details) and the Master Data scroll.

**Orders.** The list filters on creation date only, serves at most 30
pages a query and carries neither items nor money, so each listed order's
detail is fetched (`GET /api/oms/pvt/orders/{id}`). The list is read by
creation date ascending over a fixed range; when the 30-page ceiling is
reached the range restarts at the last creation date seen (the overlap is
re-read and dropped by the deduplicator), so no range is ever split blind.
Incremental syncs re-list a horizon of recent creation dates and fetch the
detail only when the list row's `lastChange` is inside the window: the list
costs one call per 100 orders, a detail one call per order.

**Customers.** The scroll token is a server-side cursor that every call
moves on, so it cannot be replayed after a crash: resuming a window
restarts its scroll (what was landed is re-read and upserted unchanged).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from clientela.http import ApiClient, BadRecord, ConnectorError, HttpError
from clientela.sources.toolkit import Page, parse_time
from clientela_vtex.config import CUSTOMER_FIELDS, VtexConfig

log = logging.getLogger("clientela.connectors.vtex")

LIST_PATH = "api/oms/pvt/orders"
SCROLL_PATH = "api/dataentities/CL/scroll"
TOKEN_HEADER = "X-VTEX-MD-TOKEN"


def vtex_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


def _list_body(body: Any) -> tuple[list[Any], int]:
    if not isinstance(body, Mapping) or not isinstance(body.get("list"), list):
        raise ConnectorError("VTEX: the order list answered without a `list` array")
    paging: Mapping[str, Any] = body["paging"] if isinstance(body.get("paging"), Mapping) else {}
    try:
        pages = int(paging.get("pages") or 0)
    except (TypeError, ValueError):
        pages = 0
    return list(body["list"]), pages


class OrderListing:
    """Pages of order *details*, resumable by `{"from", "to", "page"}`."""

    def __init__(self, client: ApiClient, config: VtexConfig,
                 now: Callable[[], datetime]) -> None:
        self.client, self.config, self.now = client, config, now

    def _first_range(self, since: datetime | None) -> tuple[datetime, datetime]:
        start = self.config.start_date
        if since is not None:
            start = max(start, self.now() - timedelta(days=self.config.change_horizon_days))
        # the end lies ahead, so orders created while we page are appended, never shifting pages
        return start, self.now() + timedelta(days=1)

    def _detail(self, row: Any) -> Any:
        order_id = row.get("orderId") if isinstance(row, Mapping) else None
        if not order_id:
            return BadRecord(json.dumps(row, default=str)[:2_000], "the list row has no orderId")
        try:
            body, _ = self.client.get_json(f"{LIST_PATH}/{order_id}")
        except HttpError as error:
            if error.status == 404:  # listed, then gone: say so in quarantine, keep going
                # the leading "id" is what the quarantine reads the record's key from
                return BadRecord(json.dumps({"id": order_id, "listed": row}, default=str)[:2_000],
                                 f"the order's detail answered 404 ({error.detail or 'not found'})")
            raise
        return body

    def _wanted(self, row: Any, since: datetime | None) -> bool:
        if since is None or not isinstance(row, Mapping):
            return True
        changed = parse_time(row.get("lastChange"))
        return changed is None or changed >= since

    def pages(self, since: datetime | None, resume: Any) -> Iterator[Page]:
        if isinstance(resume, Mapping):
            low = parse_time(resume.get("from"))
            high = parse_time(resume.get("to"))
            page = int(resume.get("page") or 1)
        else:
            low = high = None
            page = 1
        if low is None or high is None:
            low, high = self._first_range(since)
            page = 1
        per_page, ceiling = self.config.per_page, self.config.max_pages
        while True:
            span = f"creationDate:[{vtex_time(low)} TO {vtex_time(high)}]"
            query: dict[str, str | int] = {"f_creationDate": span, "orderBy": "creationDate,asc",
                                           "page": page, "per_page": per_page}
            body, response = self.client.get_json(LIST_PATH, query)
            rows, pages = _list_body(body)
            details = [self._detail(row) for row in rows if self._wanted(row, since)]
            if rows and page < min(pages, ceiling):
                following: dict[str, Any] | None = {
                    "from": vtex_time(low), "to": vtex_time(high), "page": page + 1}
            elif rows and page >= ceiling and pages > ceiling:
                last = parse_time(rows[-1].get("creationDate")) if isinstance(
                    rows[-1], Mapping) else None
                if last is None or last <= low:
                    raise ConnectorError(
                        f"VTEX: more than {ceiling * per_page} orders share one creation time; "
                        "the list cannot page past them")
                following = {"from": vtex_time(last), "to": vtex_time(high), "page": 1}
            else:
                following = None
            yield Page(details, following, response)
            if following is None:
                return
            low = parse_time(following["from"]) or low
            page = int(following["page"])


class CustomerScroll:
    """Master Data CL documents through `/scroll`, restarted when a window is resumed."""

    def __init__(self, client: ApiClient, config: VtexConfig) -> None:
        self.client, self.config = client, config

    def pages(self, since: datetime | None, resume: Any) -> Iterator[Page]:
        if resume is not None:
            log.info("VTEX: restarting the customers scroll (a scroll token cannot be replayed)")
        params: dict[str, Any] = {"_size": self.config.scroll_size,
                                  "_fields": ",".join(CUSTOMER_FIELDS)}
        if since is not None:
            params["_where"] = f"updatedIn>{vtex_time(since)}"
        body, response = self.client.get_json(SCROLL_PATH, params)
        token = response.headers.get(TOKEN_HEADER)
        while True:
            if not isinstance(body, list):
                raise ConnectorError("VTEX: the scroll answered without a JSON array")
            if not body or not token:
                yield Page(body, None, response)
                return
            yield Page(body, {"scroll": "restart"}, response)
            body, response = self.client.get_json(SCROLL_PATH, {"_token": token})
            token = response.headers.get(TOKEN_HEADER) or token
