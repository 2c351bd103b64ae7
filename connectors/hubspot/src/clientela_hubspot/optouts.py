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

Unsubscribes from one subscription type are read the same way: HubSpot keeps,
for each subscription type, a contact property `hs_email_optout_<type id>`
("Opted out of email: <type name>", `true` once the person unsubscribed from
that type). Each type mapped in `subscription_types` adds one filter group
(`hs_email_optout_<id> EQ true`, AND-ed with the date), so with up to three
mapped types it is still one query; a search takes at most five filter groups,
so more types make ⌈(2 + T)/5⌉ queries. Each row asks for every mapped type's
property, so a contact found by any group says all it is opted out of.

The cost is ⌈M/100⌉ search calls for M contacts opted out or bounced since the
last read (one call per query when there are none). The opt-out is dated by the
contact's `lastmodifieddate`, the latest moment it can have happened (as
Mailchimp's `last_changed`), to the millisecond. Only opt-outs are learned, never
an opt-in: a CRM may hold contacts nobody subscribed. An unsubscribe from all
e-mail and a hard bounce stop every subscription type, so they are opt-outs of
e-mail marketing and of every purpose a type is mapped to; an unsubscribe from
one type is an opt-out of that type's purpose only, and unmapped types are
ignored. The communication-preferences status read
(`/communication-preferences/v3/status/email/{email}`) is not used: it answers
one address per call, a call per contact on every push, and cannot be narrowed
to what changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clientela.consent import PURPOSES
from clientela.destinations.api import RemoteConsent
from clientela.http.errors import ConnectorError
from clientela_hubspot.client import Api

PAGE = 100
"""Rows per search page (HubSpot's maximum)."""
SEARCH_CAP = 10_000
"""Rows one search query can page through."""
SEARCHES_PER_SECOND = 4
MAX_GROUPS = 5
"""Filter groups one search takes."""
OPT_OUT = "hs_email_optout"
HARD_BOUNCE = "hs_email_hard_bounce_reason_enum"
MODIFIED = "lastmodifieddate"
PROPERTIES = ["email", OPT_OUT, HARD_BOUNCE, MODIFIED]
BASE_GROUPS: tuple[dict[str, Any], ...] = (
    {"propertyName": OPT_OUT, "operator": "EQ", "value": "true"},
    {"propertyName": HARD_BOUNCE, "operator": "HAS_PROPERTY"})
"""One filter each: unsubscribed from all e-mail; hard-bounced."""


def type_property(type_id: str) -> str:
    """The contact property HubSpot keeps for one subscription type: `true` once opted out."""
    return f"{OPT_OUT}_{type_id}"


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


def queries(type_ids: Sequence[str] = ()) -> list[list[dict[str, Any]]]:
    """The searches one read makes: each a list of at most five one-filter groups (all
    e-mail, hard bounce, then one per mapped subscription type)."""
    rules = [*BASE_GROUPS, *({"propertyName": type_property(t), "operator": "EQ",
                              "value": "true"} for t in type_ids)]
    return [rules[i:i + MAX_GROUPS] for i in range(0, len(rules), MAX_GROUPS)]


def search_body(since_ms: int | None, after: int,
                rules: Sequence[dict[str, Any]] = BASE_GROUPS,
                type_ids: Sequence[str] = ()) -> dict[str, Any]:
    """One page of an opt-out search: any of `rules` (OR-ed), modified since `since_ms`."""
    changed = ([{"propertyName": MODIFIED, "operator": "GTE", "value": str(since_ms)}]
               if since_ms is not None else [])
    return {"filterGroups": [{"filters": [dict(rule), *changed]} for rule in rules],
            "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            "properties": [*PROPERTIES, *(type_property(t) for t in type_ids)],
            "limit": PAGE, "after": str(after)}


def ordered(purposes: Iterable[str]) -> tuple[str, ...]:
    """Purposes in the ledger's order, each once."""
    wanted = set(purposes)
    return tuple(p for p in PURPOSES if p in wanted)


def as_remote(row: dict[str, Any], types: Mapping[str, str] | None = None,
              names: Mapping[str, str] | None = None) -> RemoteConsent | None:
    """What one contact row says, or None (never an opt-in). `types`: mapped subscription
    type id -> purpose; `names`: type id -> its name in HubSpot.

    An unsubscribe from all e-mail wins over a hard bounce, and either covers e-mail
    marketing and every mapped purpose; else an unsubscribe from mapped types covers their
    purposes."""
    types, names = types or {}, names or {}
    props = row.get("properties") or {}
    email = str(props.get("email") or "").strip().lower()
    if not email:
        return None
    when = parse_modified(props.get(MODIFIED) or row.get("updatedAt"))
    every = ordered(("marketing", *types.values()))
    if str(props.get(OPT_OUT, "")).lower() == "true":
        return RemoteConsent(email, "unsubscribed", when,
                             "HubSpot: unsubscribed from all email (hs_email_optout)",
                             purposes=every, whole_seconds=False)
    reason = props.get(HARD_BOUNCE)
    if reason:
        return RemoteConsent(email, "bounced", when, f"HubSpot: hard bounce ({reason})",
                             purposes=every, whole_seconds=False)
    left = sorted((t for t in types if str(props.get(type_property(t), "")).lower() == "true"),
                  key=int)
    if left:
        which = ", ".join(f"{names.get(t, t)} ({t})" for t in left)
        return RemoteConsent(email, "unsubscribed", when,
                             f"HubSpot: unsubscribed from subscription type {which}",
                             purposes=ordered(types[t] for t in left), whole_seconds=False)
    return None


def opted_out_types(row: dict[str, Any], type_ids: Sequence[str]) -> set[str]:
    """The mapped types one row is unsubscribed from (all of them after an unsubscribe from
    all e-mail): no unsubscribe call is needed for those."""
    props = row.get("properties") or {}
    if str(props.get(OPT_OUT, "")).lower() == "true":
        return set(type_ids)
    return {t for t in type_ids if str(props.get(type_property(t), "")).lower() == "true"}


class OptOutReader:
    """Pages the opt-out searches, paced to HubSpot's search limit."""

    def __init__(self, api: Api, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api, self.sleep, self.clock = api, sleep, clock
        self.searches = 0
        self._last: float | None = None
        self.unsubscribed: dict[str, set[str]] = {}
        """From the last read: lower-cased e-mail -> mapped type ids it is unsubscribed from."""

    def _pace(self) -> None:
        gap = 1.0 / SEARCHES_PER_SECOND
        if self._last is not None:
            wait = gap - (self.clock() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()

    def _page(self, body: dict[str, Any]) -> dict[str, Any]:
        self._pace()
        self.searches += 1
        _, answer = self.api.call(self.api.search.do_search, body)
        return answer if isinstance(answer, dict) else {}

    def read(self, since: datetime | None, types: Mapping[str, str] | None = None,
             names: Mapping[str, str] | None = None) -> list[RemoteConsent]:
        """Every contact opted out (of all e-mail or of a mapped subscription type) or
        hard-bounced since `since` (all when None)."""
        types = dict(types or {})
        type_ids = sorted(types, key=int)
        found: dict[str, RemoteConsent] = {}
        self.unsubscribed = {}
        for rules in queries(type_ids):
            for row in self._rows(since, rules, type_ids):
                item = as_remote(row, types, names)
                if item is None:
                    continue
                kept = found.get(item.email)
                if kept is None or (item.occurred_at or datetime.min) >= (
                        kept.occurred_at or datetime.min):  # the newest row says it all
                    found[item.email] = item
                    self.unsubscribed[item.email] = opted_out_types(row, type_ids)
        return sorted(found.values(), key=lambda item: item.email)

    def _rows(self, since: datetime | None, rules: Sequence[dict[str, Any]],
              type_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every row of one query, restarting from the last date seen before the 10,000 cap."""
        floor = epoch_ms(since) if since is not None else None
        after = 0
        while True:
            answer = self._page(search_body(floor, after, rules, type_ids))
            rows = answer.get("results") or []
            yield from rows
            following = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not rows or following is None:
                return
            after = int(following)
            if after + PAGE > SEARCH_CAP:  # the query's last page: start again from here
                last = parse_modified((rows[-1].get("properties") or {}).get(MODIFIED))
                restart = epoch_ms(last) if last is not None else None
                if restart is None or restart == floor:
                    raise ConnectorError(  # the platform's limit, not a bug: a failed read
                        "HubSpot: more than 10,000 opted-out contacts share one "
                        "lastmodifieddate; the search cannot page past them")
                floor, after = restart, 0
