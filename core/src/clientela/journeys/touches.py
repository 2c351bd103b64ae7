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
from clientela.store.upsert import conform

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
        SELECT campaign_id, min(origin), min(purpose),
               arg_min(medium, due_at), min(due_at)
        FROM {MESSAGES_TABLE} WHERE campaign_id IS NOT NULL AND medium IS NOT NULL
          AND campaign_id NOT IN (SELECT campaign_id FROM campaigns)
        GROUP BY campaign_id""").fetchall()
    if missing:
        store.upsert([Campaign(campaign_id=c, name=name, channel=medium, kind=purpose,
                               started_at=started.replace(tzinfo=UTC), source=SOURCE)
                      for c, name, purpose, medium, started in missing])
    table = con.execute(f"""
        SELECT '{SOURCE}' AS source, m.message_key AS touch_id, m.customer_id, m.campaign_id,
               m.salesperson_id, m.medium AS channel,
               coalesce(m.sent_at, m.due_at) AS occurred_at, m.is_control, true AS logged
        FROM {MESSAGES_TABLE} m
        WHERE m.campaign_id IS NOT NULL AND m.medium IS NOT NULL
          AND (m.status IN ('sent', 'delivered', 'read')
               OR (m.status = 'suppressed' AND m.reason = 'control_group'))
          AND m.message_key NOT IN (SELECT touch_id FROM touches)""").fetch_arrow_table()
    if table.num_rows == 0:
        return 0
    # the ledger's rows were validated when planned: written as an Arrow batch, no model per row
    store.write_batch(Touch, conform(Touch, table))
    return int(table.num_rows)
