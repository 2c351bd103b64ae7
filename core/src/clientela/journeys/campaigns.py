"""One-off campaigns: an audience, a time, channels in order, an optional control group.

The control group is drawn by hash (`keys.in_control`): a re-run, or a
second worker, holds out exactly the same people. Held-out customers are
written to the ledger as suppressed with reason `control_group` and as
control touches; contacted ones as touches once the provider accepts their
message. The Campaign row carries the control share and the cost, so
`campaign_lift`, `campaign_revenue` and `campaign_roi` read the results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from clientela.identity.analytics import persons_of, records_of
from clientela.journeys import ledger
from clientela.journeys.keys import in_control, message_key
from clientela.journeys.ledger import Planned
from clientela.journeys.planner import Candidate, Planner, Step
from clientela.journeys.settings import MessagingConfig
from clientela.journeys.templates import ChannelTemplate, TemplateError, check
from clientela.journeys.touches import SOURCE, ensure_campaign, sync_touches
from clientela.model.entities import Campaign
from clientela.store import Store

CAMPAIGN_VARIABLES = ("first_name", "store", "points")
STEP = "send"
OCCURRENCE = "once"


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    media: tuple[str, ...]
    templates: Mapping[str, ChannelTemplate]
    at: datetime
    purpose: str = "marketing"
    control_share: float = 0.0
    cost: Decimal = Decimal("0")

    def check(self, approved: Sequence[str] | None = None) -> None:
        if not 0.0 <= self.control_share < 1.0:
            raise ValueError("--control: expected a share from 0% to 99%, e.g. 10%")
        for medium in self.media:
            if medium not in self.templates:
                raise ValueError(f"no message for channel {medium!r}")
            try:
                check(self.templates[medium], medium, CAMPAIGN_VARIABLES,
                      f"campaign {self.name!r}, {medium}", approved)
            except TemplateError as error:
                raise ValueError(str(error)) from None


def _points(store: Store, ids: Sequence[str], at: datetime) -> dict[str, int]:
    """Each id's loyalty balance at `at`: with persons, the sum over all her records."""
    records = records_of(store, list(ids))
    every = sorted({r for rs in records.values() for r in rs})
    rows = store.con.execute("SELECT customer_id, CAST(sum(points) AS BIGINT) FROM loyalty_events "
                             "WHERE occurred_at < ? AND customer_id IN (SELECT unnest(?)) "
                             "GROUP BY customer_id", [ledger.naive(at), every]).fetchall()
    own = {str(c): int(p) for c, p in rows}
    found = {c: sum(own.get(r, 0) for r in records[c]) for c in ids}
    return {c: p for c, p in found.items() if any(r in own for r in records[c])}


def plan_campaign(store: Store, spec: CampaignSpec, audience: Sequence[str],
                  messaging: MessagingConfig, planner: Planner, *,
                  dry_run: bool = False) -> tuple[list[Planned], int]:
    """Plan the campaign for `audience`; returns (the new messages, how many were written)."""
    origin = f"campaign:{spec.name}"
    ids = sorted(set(audience))
    person = persons_of(store, ids)  # one message per person (see Planner.plan)
    known = ledger.existing_keys(store.con, [message_key(origin, STEP, person[c], OCCURRENCE)
                                             for c in ids])
    points = _points(store, ids, spec.at)
    candidates = [Candidate(c, OCCURRENCE, spec.at, {"points": points.get(c, 0)},
                            is_control=in_control(spec.name, person[c], spec.control_share))
                  for c in ids if message_key(origin, STEP, person[c], OCCURRENCE) not in known]
    step = Step("campaign", spec.name, STEP, spec.purpose, spec.media, spec.templates,
                campaign_id=spec.name)
    planned = planner.plan(step, candidates)
    if dry_run:
        return planned, 0
    ensure_campaign(store, Campaign(
        campaign_id=spec.name, name=spec.name, channel=spec.media[0], kind=spec.purpose,
        started_at=spec.at.astimezone(UTC), cost=spec.cost, control_share=spec.control_share,
        source=SOURCE))
    written = ledger.plan(store.con, planned, now=planner.now)
    sync_touches(store)
    return planned, written
