"""Opt-outs made in Agile CRM, read back for the store's consent ledger (reads only).

Agile CRM keeps what its campaigns learned on the contact itself (the "Contacts &
companies API" field table of its REST API documentation, github.com/agilecrm/rest-api):

* `unsubscribeStatus`: one entry per campaign the person unsubscribed from,
  `{"campaign_id": …, "unsubscribeType": "ALL" | "CURRENT"}`; `ALL` means no
  campaign may e-mail them any more, `CURRENT` only that one campaign (not an
  opt-out from e-mail marketing, so not learned);
* `emailBounceStatus`: `{"email": …, "emailBounceType": "HARD_BOUNCE" |
  "SOFT_BOUNCE" | "SPAM", "time": <epoch s>, "campaign_id": …}`; a hard bounce
  and a spam complaint stop e-mail, a soft bounce does not.

No documented call filters contacts on either (the dynamic filter takes tags
and properties), so a read pages through every contact, `GET dev/api/contacts`
with `page_size` and `cursor` (the next page's cursor is on the last contact
of a page; none on the last page): ⌈C/page_size⌉ calls for C contacts in the
account, on every push. What has not changed since the last read is left out
(the unsubscribe is dated by the contact's `updated_time`, the latest it can
have happened; a bounce by its own `time`). Never an opt-in: a CRM may hold
contacts nobody subscribed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from clientela.destinations.api import RemoteConsent
from clientela_agilecrm.client import AgileApi
from clientela_agilecrm.contact import email_of

BOUNCES = {"HARD_BOUNCE": ("bounced", "Agile CRM: hard bounce"),
           "SPAM": ("complained", "Agile CRM: marked as spam")}
RANK = {"unsubscribed": 0, "complained": 1, "bounced": 2}
"""When one address says several things, the person's own unsubscribe is what is kept."""


def from_epoch(value: Any) -> datetime | None:
    """Agile CRM's epoch seconds as naive UTC; None for 0 or nothing."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None) if seconds > 0 else None


def opt_outs_of(contact: dict[str, Any], since: datetime | None) -> Iterator[RemoteConsent]:
    """What one contact says, changed at or after `since`."""
    email = email_of(contact)
    changed = from_epoch(contact.get("updated_time")) or from_epoch(contact.get("created_time"))
    from_all = any(isinstance(s, dict) and s.get("unsubscribeType") == "ALL"
                   for s in contact.get("unsubscribeStatus") or [])
    if email and from_all and (since is None or changed is None or changed >= since):
        yield RemoteConsent(email, "unsubscribed", changed,
                            "Agile CRM: unsubscribed from all campaigns")
    for bounce in contact.get("emailBounceStatus") or []:
        kind = BOUNCES.get(str(bounce.get("emailBounceType"))) if isinstance(bounce, dict) else None
        address = str(bounce.get("email") or email or "").strip().lower() if kind else ""
        if kind is None or not address:
            continue
        when = from_epoch(bounce.get("time")) or changed
        if since is None or when is None or when >= since:
            yield RemoteConsent(address, kind[0], when, kind[1])


def read_opt_outs(api: AgileApi, since: datetime | None, page_size: int) -> list[RemoteConsent]:
    """Every contact's opt-outs changed since `since` (all when None), one per address."""
    found: dict[str, RemoteConsent] = {}
    cursor: str | None = None
    while True:
        path = f"contacts?page_size={page_size}" + (f"&cursor={quote(cursor)}" if cursor else "")
        page = api.call("GET", path)
        rows = [row for row in (page if isinstance(page, list) else []) if isinstance(row, dict)]
        for row in rows:
            for item in opt_outs_of(row, since):
                kept = found.get(item.email)
                if kept is None or RANK[item.status] < RANK[kept.status]:
                    found[item.email] = item
        cursor = str(rows[-1].get("cursor") or "") if rows else ""
        if not cursor:
            return sorted(found.values(), key=lambda item: item.email)
