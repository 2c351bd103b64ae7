"""What customers say and what salespeople chase: NPS answers and the sales pipeline.

NPS answers follow orders (a survey goes out after delivery) and are worse
after a refund, so satisfaction and service problems line up as they do in
a real store. Opportunities (quotes for large or wholesale orders) are
opened over the whole window; those whose decision would fall after the
window's end are still open, which gives `opportunities_open` something to
count at any date.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from clientela.demo import arrays
from clientela.demo.calendar import SECONDS_PER_DAY, Seasonality, Window, sample_days
from clientela.demo.customers import ORDER_CHANNELS, Customers
from clientela.demo.orders import (
    CANCELLED,
    PARTIALLY_REFUNDED,
    PENDING,
    REFUNDED,
    SALESPEOPLE,
    OrderBook,
)
from clientela.demo.vocabulary import NPS_COMMENTS
from clientela.model.entities import NpsResponse, Opportunity
from clientela.model.types import OpportunityStatus

SURVEY_RESPONSE_RATE = 0.06
NPS_HAPPY = np.array([1, 1, 1, 2, 2, 4, 5, 9, 20, 25, 30], dtype=np.float64)
NPS_UNHAPPY = np.array([8, 6, 7, 8, 8, 10, 10, 12, 12, 10, 9], dtype=np.float64)
COMMENT_RATE = 0.2

OPPORTUNITIES_PER_CUSTOMER = 0.06
OPPORTUNITY_CHANNELS = ("whatsapp", "store", "online", "call")
OPPORTUNITY_MIX = np.array([0.45, 0.30, 0.15, 0.10])
WIN_RATE = 0.42
MEDIAN_DAYS_TO_DECIDE = 8.0


def _draw_scores(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(weights) / weights.sum()
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def nps_table(
    rng: np.random.Generator, book: OrderBook, customer_ids: pa.Array, window: Window,
    numbering: arrays.Numbering = arrays.Numbering(),
) -> pa.Table:
    asked = np.flatnonzero((book.status != PENDING) & (book.status != CANCELLED))
    asked = asked[rng.random(len(asked)) < SURVEY_RESPONSE_RATE]
    answered = book.time_s[asked] + rng.integers(SECONDS_PER_DAY, 8 * SECONDS_PER_DAY, len(asked))
    keep = answered < window.end_s
    asked, answered = asked[keep], answered[keep]
    n = len(asked)
    unhappy = np.isin(book.status[asked], [PARTIALLY_REFUNDED, REFUNDED])
    score = np.where(unhappy, _draw_scores(rng, NPS_UNHAPPY, n), _draw_scores(rng, NPS_HAPPY, n))
    band = np.where(score >= 9, 0, np.where(score >= 7, 1, 2))
    texts = [*NPS_COMMENTS["promoter"], *NPS_COMMENTS["passive"], *NPS_COMMENTS["detractor"]]
    sizes = [len(NPS_COMMENTS[k]) for k in ("promoter", "passive", "detractor")]
    starts = np.array([0, sizes[0], sizes[0] + sizes[1]])
    pick = starts[band] + (rng.random(n) * np.array(sizes)[band]).astype(np.int64)
    silent = rng.random(n) >= COMMENT_RATE
    order = np.lexsort((asked, answered))
    return arrays.table(NpsResponse, {
        "response_id": numbering.keys("nps", n, 7),
        "customer_id": customer_ids.take(pa.array(book.customer[asked][order])),
        "score": arrays.integers(score[order]),
        "responded_at": arrays.timestamps(window.utc_us(answered[order])),
        "channel": arrays.pick(ORDER_CHANNELS, book.channel[asked][order].astype(np.int64)),
        "comment": arrays.pick(texts, pick[order], mask=silent[order]),
    }, n)


def opportunities_table(
    rng: np.random.Generator,
    customers: Customers,
    customer_ids: pa.Array,
    window: Window,
    seasonality: Seasonality,
    numbering: arrays.Numbering = arrays.Numbering(),
) -> pa.Table:
    n = max(1, round(OPPORTUNITIES_PER_CUSTOMER * customers.n))
    growth = np.linspace(0.6, 1.4, window.n_days)
    opened = np.sort(np.floor(
        sample_days(rng, growth * seasonality.intensity, n) * SECONDS_PER_DAY
    ).astype(np.int64))
    cdf = np.cumsum(OPPORTUNITY_MIX) / OPPORTUNITY_MIX.sum()
    channel = np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)
    known = np.searchsorted(customers.acquired * SECONDS_PER_DAY, opened, side="right")
    prospect = (known == 0) | (rng.random(n) < 0.15)
    customer = np.minimum((rng.random(n) * known).astype(np.int64), np.maximum(known - 1, 0))
    sells = channel != OPPORTUNITY_CHANNELS.index("online")
    salesperson = np.where(sells, rng.integers(0, len(SALESPEOPLE), n), -1)
    decide = rng.lognormal(np.log(MEDIAN_DAYS_TO_DECIDE), 0.9, n) * SECONDS_PER_DAY
    closed = opened + np.maximum(decide.astype(np.int64), 600)
    still_open = closed >= window.end_s
    won = rng.random(n) < WIN_RATE
    status = np.where(still_open, 0, np.where(won, 1, 2))
    value = np.round(rng.lognormal(np.log(800.0), 0.7, n) / 10) * 1000
    statuses = (OpportunityStatus.OPEN.value, OpportunityStatus.WON.value,
                OpportunityStatus.LOST.value)
    return arrays.table(Opportunity, {
        "opportunity_id": numbering.keys("op", n, 6),
        "customer_id": customer_ids.take(pa.array(customer, mask=prospect)),
        "channel": arrays.pick(OPPORTUNITY_CHANNELS, channel),
        "salesperson_id": arrays.pick(SALESPEOPLE, np.maximum(salesperson, 0),
                                      mask=salesperson < 0),
        "status": arrays.pick(statuses, status),
        "opened_at": arrays.timestamps(window.utc_us(opened)),
        "closed_at": arrays.timestamps(window.utc_us(np.where(still_open, opened, closed)),
                                       mask=still_open),
        "updated_at": arrays.timestamps(window.utc_us(np.where(still_open, opened, closed))),
        "value": arrays.decimal(np.maximum(value, 1000).astype(np.int64)),
    }, n)
