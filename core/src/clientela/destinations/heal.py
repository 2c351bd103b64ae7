"""Reconciling segment membership against what a destination actually holds.

The local push state says which segment each contact was last given, and is
right as long as every run finished. After a run was killed or failed, a
contact may hold a tag the state does not know of (added, then killed before
the old one was taken away and the state committed), and later pushes that
trust the state would never repair it. So when the previous run did not
finish, the engine reads the destination's memberships (`holdings`, read
calls only) and corrects the plan:

* a planned contact loses every segment it holds but should not (`stale`) and
  regains the one it should hold but lacks (`retag`);
* an unchanged contact whose memberships differ from its state gets a
  `retag` (tags only, no upsert);
* an address the destination holds in a segment that no contact should hold
  is taken out of it (a `remove`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clientela.destinations.api import Change, Contact
from clientela.destinations.state import REMOTE_ONLY

TAGGED = ("create", "update", "retag")


def reconcile(planned: Sequence[Change], sent: Sequence[tuple[str, str, str | None]],
              holdings: Mapping[str, set[str]]) -> list[Change]:
    """`planned` corrected against `holdings` (e-mail -> segments held); `sent` is the push
    state (customer_id, email, segment) of this destination and segmentation."""
    result: list[Change] = []
    seen: set[str] = set()
    for change in planned:
        email = change.contact.email.lower()
        seen.add(email)
        held = holdings.get(email, set())
        wanted = ({change.contact.segment} if change.action in TAGGED and change.contact.segment
                  else set())
        if change.action == "skip":
            if held:
                result.append(change.but(action="remove", stale=tuple(sorted(held)),
                                         previous_segment=None))
            else:
                result.append(change)
            continue
        result.append(change.but(stale=tuple(sorted(held - wanted)),
                                 retag=bool(wanted - held) or change.retag))
    planned_ids = {change.customer_id for change in planned}
    for customer_id, email, segment in sent:
        email = (email or "").lower()
        if customer_id in planned_ids or email in seen:
            continue
        seen.add(email)
        held = holdings.get(email, set())
        wanted = {segment} if segment else set()
        if held != wanted:
            contact = Contact(customer_id=customer_id, email=email, consent="subscribed",
                              segment=segment, fields={})
            result.append(Change(contact, "retag", previous_segment=segment,
                                 stale=tuple(sorted(held - wanted)), retag=bool(wanted - held)))
    for email, held in sorted(holdings.items()):
        if email not in seen and held:
            contact = Contact(customer_id=REMOTE_ONLY + email, email=email, consent="unknown",
                              segment=None, fields={})
            result.append(Change(contact, "remove", stale=tuple(sorted(held))))
    return result
