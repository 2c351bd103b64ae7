"""Writing what was sent as Campaign and Touch, so the campaign metrics read the results.

Every journey and every campaign is a Campaign (`journey:<name>` or the
campaign's id), and every message the provider accepted, and every
customer held out in a control group, is a Touch whose id is the message
key. Written with the store's upsert under the source `clientela`, so
writing them again changes nothing; reach, conversion, revenue, ROI and
lift then come from the existing metrics unchanged.
"""

from __future__ import annotations

from datetime import UTC

from clientela.model.entities import Campaign, Touch
from clientela.store import Store
from clientela.store.migrations import MESSAGES_TABLE

SOURCE = "clientela"


def ensure_campaign(store: Store, campaign: Campaign) -> None:
    exists = store.con.execute("SELECT 1 FROM campaigns WHERE campaign_id = ?",
                               [campaign.campaign_id]).fetchone()
    if not exists:
        store.upsert([campaign])


def sync_touches(store: Store) -> int:
    """Add the Campaigns and Touches the ledger implies and the store lacks; returns touches."""
    con = store.con
    missing = con.execute(f"""
        SELECT campaign_id, any_value(origin), any_value(purpose),
               arg_min(medium, due_at), min(due_at)
        FROM {MESSAGES_TABLE} WHERE campaign_id IS NOT NULL AND medium IS NOT NULL
          AND campaign_id NOT IN (SELECT campaign_id FROM campaigns)
        GROUP BY campaign_id""").fetchall()
    if missing:
        store.upsert([Campaign(campaign_id=c, name=name, channel=medium, kind=purpose,
                               started_at=started.replace(tzinfo=UTC), source=SOURCE)
                      for c, name, purpose, medium, started in missing])
    rows = con.execute(f"""
        SELECT m.message_key, m.customer_id, m.campaign_id, m.salesperson_id, m.medium,
               coalesce(m.sent_at, m.due_at), m.is_control
        FROM {MESSAGES_TABLE} m
        WHERE m.campaign_id IS NOT NULL AND m.medium IS NOT NULL
          AND (m.status IN ('sent', 'delivered', 'read')
               OR (m.status = 'suppressed' AND m.reason = 'control_group'))
          AND m.message_key NOT IN (SELECT touch_id FROM touches)""").fetchall()
    if not rows:
        return 0
    store.upsert([Touch(touch_id=key, customer_id=customer, campaign_id=campaign,
                        salesperson_id=salesperson, channel=medium,
                        occurred_at=at.replace(tzinfo=UTC), is_control=bool(control),
                        source=SOURCE)
                  for key, customer, campaign, salesperson, medium, at, control in rows])
    return len(rows)
