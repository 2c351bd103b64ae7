"""Opt-outs made in HubSpot, read back for the store's consent ledger (reads only).

HubSpot keeps "Unsubscribed from all email" on the contact as `hs_email_optout`
(true once the person used an unsubscribe link or was opted out in the app),
and a hard bounce as `hs_email_hard_bounce_reason_enum` (set when HubSpot stops
mailing an address that bounced). Both are searchable, so one CRM search
(`POST /crm/v3/objects/contacts/search`, HubSpot's "Search the CRM" guide) lists
every contact with either, changed since the last read:

* two filter groups (OR-ed): `hs_email_optout EQ true` and
  `hs_email_hard_bounce_reason_enum HAS_PROPERTY`, each AND-ed with
  `lastmodifieddate GTE <since, epoch ms>` when there was a read before;
* sorted by `lastmodifieddate` ascending, at most 100 a page, paged with
  `paging.next.after`;
* a search answers at most 10,000 rows for one query (paging past that is
  refused), so when a page would reach that cap the query starts again from the
  last `lastmodifieddate` seen; addresses met twice are kept once;
* the search endpoints allow 4 requests a second per account (a 429 beyond): a
  read paces its pages to that, and a 429 is still waited out as HubSpot asks.

The cost is ⌈M/100⌉ search calls for M contacts opted out or bounced since the
last read (one call when there are none). The opt-out is dated by the contact's
`lastmodifieddate`, the latest moment it can have happened (as Mailchimp's
`last_changed`). Only opt-outs are learned, never an opt-in: a CRM may hold
contacts nobody subscribed. Unsubscribes from one subscription type only (the
communication-preferences API, `/communication-preferences/v3/status/email/{email}`)
are not read: that API answers one address per call, which would cost a call per
contact on every push; HubSpot's own sends honour them anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from clientela.destinations.api import RemoteConsent
from clientela_hubspot.client import Api

PAGE = 100
"""Rows per search page (HubSpot's maximum)."""
SEARCH_CAP = 10_000
"""Rows one search query can page through."""
SEARCHES_PER_SECOND = 4
OPT_OUT = "hs_email_optout"
HARD_BOUNCE = "hs_email_hard_bounce_reason_enum"
MODIFIED = "lastmodifieddate"
PROPERTIES = ["email", OPT_OUT, HARD_BOUNCE, MODIFIED]


def epoch_ms(moment: datetime) -> int:
    """A naive-UTC (or aware) datetime as the epoch milliseconds HubSpot filters dates with."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def parse_modified(value: Any) -> datetime | None:
    """HubSpot's `lastmodifieddate` (ISO 8601, `Z`, or epoch ms) as naive UTC."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def search_body(since_ms: int | None, after: int) -> dict[str, Any]:
    """One page of the opt-out search: opted out OR hard-bounced, modified since `since_ms`."""
    changed = ([{"propertyName": MODIFIED, "operator": "GTE", "value": str(since_ms)}]
               if since_ms is not None else [])
    return {"filterGroups": [
                {"filters": [{"propertyName": OPT_OUT, "operator": "EQ", "value": "true"},
                             *changed]},
                {"filters": [{"propertyName": HARD_BOUNCE, "operator": "HAS_PROPERTY"},
                             *changed]}],
            "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            "properties": PROPERTIES, "limit": PAGE, "after": str(after)}


def as_remote(row: dict[str, Any]) -> RemoteConsent | None:
    """What one contact row says: `unsubscribed` (all e-mail) wins over `bounced`; None for
    neither (never an opt-in)."""
    props = row.get("properties") or {}
    email = str(props.get("email") or "").strip().lower()
    if not email:
        return None
    when = parse_modified(props.get(MODIFIED) or row.get("updatedAt"))
    if str(props.get(OPT_OUT, "")).lower() == "true":
        return RemoteConsent(email, "unsubscribed", when,
                             "HubSpot: unsubscribed from all email (hs_email_optout)")
    reason = props.get(HARD_BOUNCE)
    if reason:
        return RemoteConsent(email, "bounced", when, f"HubSpot: hard bounce ({reason})")
    return None


class OptOutReader:
    """Pages the opt-out search, paced to HubSpot's search limit."""

    def __init__(self, api: Api, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api, self.sleep, self.clock = api, sleep, clock
        self.searches = 0
        self._last: float | None = None

    def _pace(self) -> None:
        gap = 1.0 / SEARCHES_PER_SECOND
        if self._last is not None:
            wait = gap - (self.clock() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()

    def _page(self, since_ms: int | None, after: int) -> dict[str, Any]:
        self._pace()
        self.searches += 1
        _, answer = self.api.call(self.api.search.do_search, search_body(since_ms, after))
        return answer if isinstance(answer, dict) else {}

    def read(self, since: datetime | None) -> list[RemoteConsent]:
        """Every contact opted out or hard-bounced since `since` (all when None)."""
        found: dict[str, RemoteConsent] = {}
        floor = epoch_ms(since) if since is not None else None
        after = 0
        while True:
            answer = self._page(floor, after)
            rows = answer.get("results") or []
            for row in rows:
                item = as_remote(row)
                if item is not None:
                    found[item.email] = item
            following = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not rows or following is None:
                break
            after = int(following)
            if after + PAGE > SEARCH_CAP:  # the query's last page: start again from here
                last = parse_modified((rows[-1].get("properties") or {}).get(MODIFIED))
                restart = epoch_ms(last) if last is not None else None
                if restart is None or restart == floor:
                    raise RuntimeError(
                        "HubSpot: more than 10,000 opted-out contacts share one "
                        "lastmodifieddate; the search cannot page past them")
                floor, after = restart, 0
        return sorted(found.values(), key=lambda item: item.email)
