"""Every contact of a customer: campaign sends, held-out controls and salespeople's follow-ups.

Post-sale follow-ups are what `relationship_activity` measures: a salesperson
messages or calls a customer a few days after a shop or WhatsApp sale, and
does not always log it. They carry no causal effect in the demo, so the
campaign effect in `truth` is the only one to find.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela.demo import arrays
from clientela.demo.calendar import SECONDS_PER_DAY, Window
from clientela.demo.campaigns import RELATIONSHIP_CAMPAIGN, Audience, CampaignPlan, campaign_ids
from clientela.demo.customers import STORE, WHATSAPP
from clientela.demo.orders import SALESPEOPLE, OrderBook
from clientela.model.entities import Touch

FOLLOW_UP_SHARE = 0.3
FOLLOW_UP_LOGGED = 0.8
FOLLOW_UP_CHANNELS = ("whatsapp", "call")


def touches_table(
    rng: np.random.Generator,
    plans: list[CampaignPlan],
    audience: Audience,
    book: OrderBook,
    customer_ids: pa.Array,
    window: Window,
    numbering: arrays.Numbering = arrays.Numbering(),
) -> pa.Table:
    followed = np.flatnonzero(
        book.valid & np.isin(book.channel, [STORE, WHATSAPP])
        & (rng.random(len(book.customer)) < FOLLOW_UP_SHARE)
    )
    follow_time = book.time_s[followed] + rng.integers(
        2 * SECONDS_PER_DAY, 10 * SECONDS_PER_DAY, len(followed)
    )
    keep = follow_time < window.end_s
    followed, follow_time = followed[keep], follow_time[keep]
    m = len(followed)
    follow_channel = (rng.random(m) >= 0.75).astype(np.int64)

    n_campaign = len(audience.customer)
    time_s = np.concatenate([
        np.floor(audience.time * SECONDS_PER_DAY).astype(np.int64), follow_time
    ])
    customer = np.concatenate([audience.customer, book.customer[followed]])
    order = np.lexsort((customer, time_s))
    n = len(order)
    campaign_names = [*campaign_ids(len(plans)), RELATIONSHIP_CAMPAIGN]
    campaign = np.concatenate([audience.campaign, np.full(m, len(plans))])
    channel = pa.concat_arrays([
        arrays.pick([plan.channel for plan in plans] + ["email"], audience.campaign),
        arrays.pick(FOLLOW_UP_CHANNELS, follow_channel),
    ])
    salesperson = np.concatenate([np.full(n_campaign, -1), book.salesperson[followed]])
    control = np.concatenate([audience.control, np.zeros(m, dtype=bool)])
    logged = np.concatenate([np.ones(n_campaign, dtype=bool), rng.random(m) < FOLLOW_UP_LOGGED])
    columns = {
        "touch_id": numbering.keys("t", n, 8),
        "customer_id": customer_ids.take(pa.array(customer[order])),
        "campaign_id": arrays.pick(campaign_names, campaign[order]),
        "salesperson_id": arrays.pick(SALESPEOPLE, np.maximum(salesperson[order], 0),
                                      mask=salesperson[order] < 0),
        "channel": pc.take(channel, pa.array(order)),
        "occurred_at": arrays.timestamps(window.utc_us(time_s[order])),
        "is_control": pa.array(control[order], pa.bool_()),
        "logged": pa.array(logged[order], pa.bool_()),
    }
    return arrays.table(Touch, columns, n)
