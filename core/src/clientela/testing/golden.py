"""The golden store: a small, deterministic retail history every engine must agree on.

Generated from fixed seeds with the edge cases metrics trip on: cancelled
and fully refunded orders, partial refunds, orders in USD with an fx rate,
guest checkouts, ties in frequency and money, orders minutes away from a
month boundary in America/Sao_Paulo, order lines, marketing spend and
traffic.

Every table of the model holds rows, so every metric of the built-in
catalogue answers with real numbers (the cross-engine tests insist on it):

- *newcomers*: customers acquired all along the three years (so every period
  has new customers, cohorts and a CAC), each buying as a BG/NBD customer
  does (a Poisson rate and a dropout chance per purchase, both drawn per
  customer) with a spend level of their own, so BG/NBD and Gamma-Gamma fit
  at every period's end;
- a loyalty programme: members earn a point per whole unit of a valid
  order's revenue (in the order's currency), lots expire a year later (expire events, earliest lots
  spent first), redeem 500-point blocks for R$ 25; some redemptions carry no
  `discount_value` (the order's loyalty discount stands in), one is tied to a
  cancelled order and given back by an adjustment, some to orders the store
  does not hold, and a few members' programme lives on their orders only;
- campaigns on email, SMS and WhatsApp with control groups (one without,
  one free), a reminder touch, two campaigns sent at the same instant (a
  last-touch tie), salespeople's follow-ups (some not logged), a
  relationship campaign, and contacts before a customer's first order;
- opportunities open, won and lost, on four channels, with and without a
  salesperson, customer or value;
- NPS answers following orders, worse after a refund, a few anonymous.

The first block (customers c000-c059, orders o00000-o00599, spend and
traffic) is drawn exactly as it always was; everything else comes from
generators of its own seeded from SEED, so adding to it never moves those
rows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from clientela.model import Customer, MarketingSpend, Order, OrderLine
from clientela.model.base import Record
from clientela.model.entities import (
    Campaign,
    LoyaltyEvent,
    NpsResponse,
    Opportunity,
    Touch,
    Traffic,
)
from clientela.store import Store

SEED = 20250101
SOURCE = "golden"
CHANNELS = ("online", "store", "app", "whatsapp", "marketplace")
START = datetime(2023, 1, 1)
END = datetime(2025, 12, 31)

NEWCOMERS = 200
"""Customers acquired over the years, on top of the first block's 60 (who all buy from the
start to the end). With these numbers BG/NBD and Gamma-Gamma fit as of every month's end
from August 2023 to January 2026, in UTC, America/Sao_Paulo and America/New_York; the fit
is sensitive to the draw, so check that again after changing any of them."""
PURCHASE_RATE = (1.2, 1 / 40)
"""Gamma (shape, scale) of a newcomer's purchases per day."""
DROPOUT = (0.8, 2.5)
"""Beta (a, b) of a newcomer's chance to never buy again after a purchase."""
STATUSES = ("paid", "fulfilled", "partially_refunded", "cancelled", "refunded")
STATUS_WEIGHTS = (60, 25, 5, 6, 4)
SALESPEOPLE = ("p1", "p2")
STORES = ("s1", "s2", "s3")

POINTS_BLOCK = 500
"""Points of one redemption block (the default redemption threshold)."""
BLOCK_VALUE = Decimal("25.00")
EXPIRY = timedelta(days=365)

CAMPAIGN_CHANNELS = ("email", "sms", "whatsapp")
RELATIONSHIP_CAMPAIGN = "rel-pos-venda"
OPPORTUNITY_CHANNELS = ("whatsapp", "store", "online", "call")


def golden_records(customers: int = 60, orders: int = 600, seed: int = SEED
                   ) -> dict[type[Record], list[Record]]:
    """Every record of the golden store, per entity (see the module's docstring)."""
    rng = random.Random(seed)
    people = [
        Customer(source=SOURCE, customer_id=f"c{i:03d}",
                 acquisition_channel=rng.choice(CHANNELS),
                 home_store_id=rng.choice(("s1", "s2", "s3", None)))
        for i in range(customers)
    ]
    span = (END - START).total_seconds()
    found: list[Order] = []
    lines: list[OrderLine] = []
    for k in range(orders):
        placed = START + timedelta(seconds=int(span * rng.random()))
        if k % 37 == 0:  # a few minutes either side of a local (UTC-3) month boundary
            first = datetime(placed.year, placed.month, 1, 3, 0)
            placed = first + timedelta(minutes=rng.choice((-7, 7)))
        total = Decimal(rng.choice((50, 100, 150, 199, 250))) if k % 5 == 0 else \
            Decimal(rng.randrange(1000, 50000)) / 100
        status = rng.choices(("paid", "fulfilled", "partially_refunded", "cancelled", "refunded"),
                             (60, 25, 5, 6, 4))[0]
        refunded = (total / 4).quantize(Decimal("0.01")) if status == "partially_refunded" else \
            total if status == "refunded" else Decimal(0)
        foreign = k % 11 == 0
        found.append(Order(
            source=SOURCE, order_id=f"o{k:05d}",
            customer_id=None if k % 23 == 0 else f"c{rng.randrange(customers):03d}",
            status=status, placed_at=placed, currency="USD" if foreign else "",
            fx_rate=Decimal("5.4321") if foreign else None,
            subtotal=total + Decimal(5), discount=Decimal(5), total=total,
            refunded_amount=refunded, channel=rng.choice(CHANNELS),
            store_id=rng.choice(("s1", "s2", "s3", None)),
            salesperson_id=rng.choice(("p1", "p2", None)),
            loyalty_discount=Decimal(rng.choice((0, 0, 0, 10))),
        ))
        for line in range(rng.randrange(1, 4)):
            lines.append(OrderLine(source=SOURCE, order_id=f"o{k:05d}", line_id=str(line),
                                   quantity=rng.randrange(1, 4), unit_price=Decimal(10),
                                   total=Decimal(10)))
    spend = [MarketingSpend(source=SOURCE, day=date(2023, 1, 1) + timedelta(days=d),
                            channel=CHANNELS[d % len(CHANNELS)],
                            amount=Decimal(rng.randrange(100, 1000)))
             for d in range(0, 1095, 3)]
    traffic = [Traffic(source=SOURCE, day=date(2023, 1, 1) + timedelta(days=d),
                       channel=CHANNELS[d % len(CHANNELS)], sessions=rng.randrange(50, 500))
               for d in range(0, 1095, 3)]

    book = _newcomers(random.Random(seed + 1), first_customer=customers, first_order=orders)
    every_order = [*found, *book.orders]
    known = _acquisitions(every_order)
    campaigns, touches = _campaigns(random.Random(seed + 2), known, every_order)
    records: dict[type[Record], list[Record]] = {
        Customer: [*people, *book.customers], Order: list(every_order),
        OrderLine: [*lines, *book.lines], MarketingSpend: list(spend),
        Traffic: list(traffic), LoyaltyEvent: list(book.events), Campaign: list(campaigns),
        Touch: list(touches),
        Opportunity: list(_opportunities(random.Random(seed + 3), known)),
        NpsResponse: list(_nps(random.Random(seed + 4), every_order)),
    }
    return records


@dataclass
class _Book:
    """What the newcomers' generator writes: their customers, orders, lines and the loyalty
    ledger (which decides the orders' loyalty fields, so both are written together)."""

    customers: list[Customer] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    lines: list[OrderLine] = field(default_factory=list)
    events: list[LoyaltyEvent] = field(default_factory=list)


@dataclass
class _Lot:
    """Points earned together, and when they expire (None: never)."""

    expires: datetime | None
    points: int


@dataclass
class _Wallet:
    """One member's points, as lots spent earliest expiry first, and the ledger it writes."""

    customer_id: str
    book: _Book
    lots: list[_Lot] = field(default_factory=list)

    @property
    def balance(self) -> int:
        return sum(lot.points for lot in self.lots)

    def event(self, kind: str, points: int, at: datetime, *, order_id: str | None = None,
              expires_at: datetime | None = None,
              discount_value: Decimal | None = None) -> None:
        self.book.events.append(LoyaltyEvent(
            source=SOURCE, event_id=f"le{len(self.book.events):05d}",
            customer_id=self.customer_id, kind=kind, points=points, occurred_at=at,
            order_id=order_id, expires_at=expires_at, discount_value=discount_value))

    def expire_until(self, moment: datetime) -> None:
        """Write an expire event, at its expiry, for every lot unspent by then."""
        for lot in self.lots:
            if lot.expires is not None and lot.expires <= moment:
                self.event("expire", -lot.points, lot.expires)
        self.lots = [lot for lot in self.lots if lot.expires is None or lot.expires > moment]

    def earn(self, points: int, at: datetime, *, order_id: str | None,
             expires: datetime | None, kind: str = "earn") -> None:
        self.lots.append(_Lot(expires, points))
        self.lots.sort(key=lambda lot: (lot.expires is None, lot.expires or at))
        self.event(kind, points, at, order_id=order_id, expires_at=expires)

    def spend(self, points: int) -> None:
        """Take `points` from the lots expiring soonest (the programme's rule, and the one
        loyalty_points_expiring assumes)."""
        for lot in self.lots:
            taken = min(points, lot.points)
            lot.points -= taken
            points -= taken
        self.lots = [lot for lot in self.lots if lot.points > 0]


def _newcomers(rng: random.Random, *, first_customer: int, first_order: int) -> _Book:
    """NEWCOMERS customers acquired uniformly over [START, END - 90 days), each buying as
    BG/NBD assumes: purchases at a Poisson rate drawn from a gamma, and after each one a
    chance drawn from a beta of never buying again; spend per order around a level of the
    customer's own. About 70% join the loyalty programme; one member in ten is recorded on
    its orders only (no events)."""
    book = _Book()
    last_start = (END - timedelta(days=90) - START).total_seconds()
    k = first_order
    for i in range(first_customer, first_customer + NEWCOMERS):
        cid = f"c{i:03d}"
        acquired = START + timedelta(seconds=int(last_start * rng.random()))
        home = rng.choice(CHANNELS)
        book.customers.append(Customer(
            source=SOURCE, customer_id=cid, acquisition_channel=home,
            home_store_id=rng.choice((*STORES, None)), created_at=acquired))
        rate = rng.gammavariate(*PURCHASE_RATE)  # purchases per day
        dropout = rng.betavariate(*DROPOUT)
        level = rng.gammavariate(4.0, 40.0)  # mean spend in BRL
        member = rng.random() < 0.7
        on_orders_only = member and rng.random() < 0.1
        wallet = _Wallet(cid, book) if member and not on_orders_only else None
        balance_on_orders = 0
        placed = acquired
        for _ in range(40):
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            valid = status not in ("cancelled", "refunded")
            total = max(Decimal(round(level * rng.gammavariate(6.0, 1 / 6), 2)),
                        Decimal("5.00")).quantize(Decimal("0.01"))
            refunded = (total / 3).quantize(Decimal("0.01")) if status == "partially_refunded" \
                else total if status == "refunded" else Decimal(0)
            foreign = k % 17 == 0
            channel = home if rng.random() < 0.7 else rng.choice(CHANNELS)
            oid = f"o{k:05d}"
            loyalty: dict[str, object] = {}
            if wallet is not None:
                wallet.expire_until(placed)
                if (valid and wallet.balance >= POINTS_BLOCK and total >= 100
                        and rng.random() < 0.5):
                    blocks = min(wallet.balance // POINTS_BLOCK, 2)
                    value = BLOCK_VALUE * blocks
                    wallet.spend(blocks * POINTS_BLOCK)
                    # one in four redemptions leaves the discount to the order's own field
                    wallet.event("redeem", -blocks * POINTS_BLOCK, placed, order_id=oid,
                                 discount_value=None if rng.random() < 0.25 else value)
                    loyalty.update(loyalty_points_redeemed=blocks * POINTS_BLOCK,
                                   loyalty_discount=value)
                elif status == "cancelled" and wallet.balance >= POINTS_BLOCK:
                    # redeemed on an order later cancelled: the points come back a day later
                    wallet.event("redeem", -POINTS_BLOCK, placed, order_id=oid,
                                 discount_value=BLOCK_VALUE)
                    wallet.event("adjust", POINTS_BLOCK, placed + timedelta(days=1))
                earned = int(total - refunded) if valid else 0
                if earned > 0:
                    wallet.earn(earned, placed, order_id=oid, expires=placed + EXPIRY)
                    loyalty["loyalty_points_earned"] = earned
                if rng.random() < 0.03:  # goodwill points that never expire
                    wallet.earn(50, placed + timedelta(hours=2), order_id=None, expires=None,
                                kind="adjust")
                if rng.random() < 0.02 and wallet.balance >= POINTS_BLOCK:
                    # redeemed at a till whose orders the store never received
                    wallet.spend(POINTS_BLOCK)
                    wallet.event("redeem", -POINTS_BLOCK, placed + timedelta(hours=5),
                                 order_id=f"pos-{oid}", discount_value=BLOCK_VALUE)
            elif on_orders_only and valid:
                earned = int(total - refunded)
                if balance_on_orders >= POINTS_BLOCK and total >= 100 and rng.random() < 0.5:
                    loyalty.update(loyalty_points_redeemed=POINTS_BLOCK,
                                   loyalty_discount=BLOCK_VALUE)
                    balance_on_orders -= POINTS_BLOCK
                loyalty["loyalty_points_earned"] = earned
                balance_on_orders += earned
            discount = Decimal(rng.choice((0, 0, 5, 10)))
            book.orders.append(Order(
                source=SOURCE, order_id=oid, customer_id=cid, status=status, placed_at=placed,
                currency="USD" if foreign else "",
                fx_rate=Decimal("5.1234") if foreign else None,
                subtotal=total + discount, discount=discount, total=total,
                refunded_amount=refunded, channel=channel,
                store_id=rng.choice(STORES) if channel == "store" else None,
                salesperson_id=rng.choice((*SALESPEOPLE, None)),
                coupon="VOLTA10" if discount == 10 else None,
                **loyalty,
            ))
            for line in range(rng.randrange(1, 4)):
                quantity = rng.randrange(1, 4)
                book.lines.append(OrderLine(
                    source=SOURCE, order_id=oid, line_id=str(line), quantity=quantity,
                    unit_price=Decimal(12), total=Decimal(12 * quantity)))
            k += 1
            if rng.random() < dropout:
                break
            placed += timedelta(seconds=int(rng.expovariate(rate) * 86400))
            if placed >= END:
                break
        if wallet is not None:
            wallet.expire_until(END)
    return book


def _acquisitions(orders: list[Order]) -> list[tuple[datetime, str]]:
    """(first order, customer) of every identified customer, in time order: who a campaign,
    a salesperson or a survey can reach at a given moment."""
    first: dict[str, datetime] = {}
    for o in orders:
        if o.customer_id is not None and o.status not in ("cancelled", "refunded"):
            moment = o.placed_at.replace(tzinfo=None)
            if o.customer_id not in first or moment < first[o.customer_id]:
                first[o.customer_id] = moment
    return sorted((moment, cid) for cid, moment in first.items())


def _campaigns(rng: random.Random, known: list[tuple[datetime, str]], orders: list[Order]
               ) -> tuple[list[Campaign], list[Touch]]:
    """A campaign about every two months, each sent to about a third of the customers known
    by then, part of them held out as controls; plus post-sale follow-ups."""
    campaigns: list[Campaign] = []
    touches: list[Touch] = []

    def touch(cid: str, at: datetime, channel: str, **kw: object) -> None:
        touches.append(Touch(source=SOURCE, touch_id=f"t{len(touches):05d}", customer_id=cid,
                             channel=channel, occurred_at=at, **kw))

    campaigns.append(Campaign(source=SOURCE, campaign_id=RELATIONSHIP_CAMPAIGN,
                              name="Pós-venda", channel="whatsapp", kind="relationship",
                              started_at=START))
    for n in range(18):
        started = datetime(2023, 2, 10, 13) + timedelta(days=61 * n, hours=rng.randrange(0, 48))
        if n == 9:  # sent at the same instant as campaign 8: a last-touch tie
            started = campaigns[-1].started_at.replace(tzinfo=None)
        channel = CAMPAIGN_CHANNELS[n % 3]
        control = 0.0 if n % 5 == 3 else 0.2
        cid = f"cmp{n:02d}"
        campaigns.append(Campaign(
            source=SOURCE, campaign_id=cid, name=f"Campanha {n}", channel=channel,
            started_at=started, ended_at=None if n % 4 == 1 else started + timedelta(days=7),
            cost=Decimal(0) if n == 6 else Decimal(rng.randrange(20000, 200000)) / 100,
            control_share=control))
        for joined, customer in known:
            if joined >= started or rng.random() >= 0.35:
                continue
            held = rng.random() < control
            at = started if n in (8, 9) else started + timedelta(minutes=rng.randrange(0, 2160))
            touch(customer, at, channel, campaign_id=cid, is_control=held)
            if n == 4 and not held:  # a reminder two days later
                touch(customer, at + timedelta(days=2), channel, campaign_id=cid)
    first = {cid: moment for moment, cid in known}
    for o in orders:
        placed = o.placed_at.replace(tzinfo=None)
        if (o.customer_id is None or o.channel not in ("store", "whatsapp")
                or o.status in ("cancelled", "refunded") or rng.random() >= 0.3):
            continue
        at = placed + timedelta(hours=rng.randrange(48, 240))
        if at >= END:
            continue
        channel = rng.choice(("whatsapp", "call"))
        if rng.random() < 0.25:
            touch(o.customer_id, at, channel, campaign_id=RELATIONSHIP_CAMPAIGN)
        else:
            touch(o.customer_id, at, channel,
                  salesperson_id=o.salesperson_id or rng.choice(SALESPEOPLE),
                  logged=rng.random() < 0.8)
    for cid, moment in list(first.items())[::9]:  # a salesperson's call before the first sale
        if moment - timedelta(days=5) > START:
            touch(cid, moment - timedelta(days=5), "call", salesperson_id=rng.choice(SALESPEOPLE))
    return campaigns, touches


def _opportunities(rng: random.Random, known: list[tuple[datetime, str]]) -> list[Opportunity]:
    """Quotes opened all along the years, decided after a lognormal number of days (median
    ten); those whose decision would fall after END are still open."""
    found: list[Opportunity] = []
    span = (END - START).total_seconds()
    for n in range(220):
        opened = START + timedelta(seconds=int(span * rng.random()))
        channel = rng.choice(OPPORTUNITY_CHANNELS)
        reachable = [cid for moment, cid in known if moment < opened]
        customer = rng.choice(reachable) if reachable and rng.random() < 0.85 else None
        decided = opened + timedelta(seconds=max(600, int(
            rng.lognormvariate(math.log(10), 0.9) * 86400)))
        still_open = decided >= END
        status = "open" if still_open else ("won" if rng.random() < 0.42 else "lost")
        value = None if rng.random() < 0.1 else \
            Decimal(round(rng.lognormvariate(math.log(800), 0.7), 2)).quantize(Decimal("0.01"))
        found.append(Opportunity(
            source=SOURCE, opportunity_id=f"op{n:04d}", customer_id=customer, channel=channel,
            salesperson_id=None if channel == "online" or rng.random() < 0.1
            else rng.choice(SALESPEOPLE),
            status=status, opened_at=opened, closed_at=None if still_open else decided,
            updated_at=opened if still_open else decided, value=value))
    return found


def _nps(rng: random.Random, orders: list[Order]) -> list[NpsResponse]:
    """A survey answered after about one order in twelve (not cancelled ones), worse after
    a refund; a few anonymous answers with no channel."""
    happy = (1, 1, 1, 2, 2, 4, 5, 9, 20, 25, 30)
    unhappy = (8, 6, 7, 8, 8, 10, 10, 12, 12, 10, 9)
    found: list[NpsResponse] = []
    for o in orders:
        if o.status == "cancelled" or rng.random() >= 1 / 12:
            continue
        answered = o.placed_at.replace(tzinfo=None) + timedelta(hours=rng.randrange(24, 192))
        if answered >= END:
            continue
        weights = unhappy if o.status in ("refunded", "partially_refunded") else happy
        anonymous = rng.random() < 0.05
        found.append(NpsResponse(
            source=SOURCE, response_id=f"nps{len(found):05d}",
            customer_id=None if anonymous else o.customer_id,
            score=rng.choices(range(11), weights)[0], responded_at=answered,
            channel=None if anonymous else o.channel,
            comment="obrigado" if rng.random() < 0.2 else None))
    return found


def golden_store(path: Path) -> Store:
    """Write the golden records to a new store file at `path` and return it open."""
    store = Store(path)
    for records in golden_records().values():
        store.upsert(records)
    return store
