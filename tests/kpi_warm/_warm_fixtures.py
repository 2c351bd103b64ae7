"""A small store and the edits the warm-cache tests apply to it, each through a public write
path (`Store.upsert`, `forget`, the identity graph's table)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from clientela.destinations.forget import forget
from clientela.identity import IDENTITY_LINKS_TABLE
from clientela.kpi import compute
from clientela.kpi.context import TableCache
from clientela.model import Campaign, Customer, LoyaltyEvent, Order, Touch
from clientela.store import Store
from clientela.store.touched import record_everything

SOURCE = "test"
TIMEZONE = "America/Sao_Paulo"
DAY0 = datetime(2023, 1, 1, 15, 0, tzinfo=UTC)
"""Edits are dated DAY0 + n days (n < 730): the two years before the window's end."""
CUSTOMERS = 6
CHANNELS = ("organic", "paid")
SPAN = {"start": "2024-01", "end": "2025-01", "grain": "month", "timezone": TIMEZONE}
"""The series compared: twelve local months, whose history starts a year earlier."""
PERIOD_LOCAL = ["revenue", "orders", "aov", "active_customers", "channel_mix"]
POINT_IN_TIME = ["new_customers", "repeat_rate", "recency_days", "lapsed_customers",
                 "retention_rate", "winback_rate"]
METRICS = PERIOD_LOCAL + POINT_IN_TIME
"""Cheap enough to compute many times a test (cohorts, RFM and LTV cost seconds each)."""


def email(index: int) -> str:
    return f"person{index}@example.com"


def customer(index: int, channel: str | None = None) -> Customer:
    return Customer(source=SOURCE, customer_id=f"c{index}", email=email(index),
                    acquisition_channel=channel or CHANNELS[index % 2])


def order(order_id: str, customer_index: int | None, day: int, cents: int,
          **kw: Any) -> Order:
    total = Decimal(cents) / 100
    kw.setdefault("status", "paid")
    kw.setdefault("channel", "online" if day % 3 else "store")
    return Order(source=SOURCE, order_id=order_id,
                 customer_id=None if customer_index is None else f"c{customer_index}",
                 placed_at=DAY0 + timedelta(days=day, hours=day % 11), subtotal=total,
                 total=total, **kw)


BASE_ORDERS = [(i % CUSTOMERS, (i * 37) % 730, 1000 + 317 * i) for i in range(24)]
"""(customer, day, cents) of the orders every test starts from."""


CAMPAIGNS = ("spring", "winter", "late")
"""One-day campaigns (index: started DAY0 + 450, 700 and 725 days), each with a contact of
two customers that day; `Editor.touch` adds or moves contacts between them."""


NEW_CAMPAIGN = "journey"
"""A campaign with no row until `Editor.new_campaign` writes one; contacts may name it
before (`Editor.touch` with index len(CAMPAIGNS)), as a journey's may be synced before the
campaign row its first message creates."""


def campaign_day(index: int) -> int:
    return (450, 700, 725)[index]


def add_campaigns(store: Store) -> None:
    """CAMPAIGNS and their first contacts, for the tests of campaign ROI."""
    store.upsert([Campaign(source=SOURCE, campaign_id=cid, name=cid, channel="email",
                           started_at=DAY0 + timedelta(days=campaign_day(i)),
                           cost=Decimal(10 + i))
                  for i, cid in enumerate(CAMPAIGNS)])
    store.upsert([touch(f"t{i}{j}", (2 * i + j) % CUSTOMERS, i, campaign_day(i))
                  for i in range(len(CAMPAIGNS)) for j in range(2)])


def touch(touch_id: str, customer_index: int, campaign_index: int, day: int) -> Touch:
    return Touch(source=SOURCE, touch_id=touch_id, customer_id=f"c{customer_index}",
                 campaign_id=(*CAMPAIGNS, NEW_CAMPAIGN)[campaign_index], channel="email",
                 occurred_at=DAY0 + timedelta(days=day, hours=1))


LOYALTY = ["loyalty_members_with_points", "loyalty_redeemable_members",
           "loyalty_points_expiring", "loyalty_discount_granted", "loyalty_redemption_visits",
           "loyalty_redemption_day_spend", "loyalty_scored_share"]
"""The loyalty metrics: balances and points expiring read the carried ledger
(`clientela.kpi.carried_ledger`), the redemptions the orders their events name."""


def event(event_id: str, kind: str, customer_index: int, day: int, points: int, *,
          order_id: str | None = None, expires_in: int | None = None,
          discount: Decimal | None = None) -> LoyaltyEvent:
    """A loyalty event dated DAY0 + `day` days (and a few hours), expiring `expires_in` days
    after it (None: never)."""
    when = DAY0 + timedelta(days=day, hours=day % 7)
    return LoyaltyEvent(source=SOURCE, event_id=event_id, customer_id=f"c{customer_index}",
                        kind=kind, points=points, occurred_at=when, order_id=order_id,
                        expires_at=None if expires_in is None else when + timedelta(days=expires_in),
                        discount_value=discount)


BASE_EVENTS = [
    *(event(f"e{i}", "earn", c, day, 10 * (i + 1), order_id=f"o{i}",
            expires_in=None if i % 5 == 0 else 365)
      for i, (c, day, _) in enumerate(BASE_ORDERS)),
    *(event(f"r{i}", "redeem", c, day, -4 * (i + 1), order_id=f"o{i}",
            discount=None if i % 8 else Decimal(i + 1) / 2)
      for i, (c, day, _) in enumerate(BASE_ORDERS) if i % 4 == 3),
    event("x0", "expire", 1, 500, -30),
    event("a0", "adjust", 2, 650, 75),
]
"""Each base order earns 10 points per its index + 1 (every fifth never expiring, the others
a year later); every fourth also redeems, with or without a value of its own."""


def add_loyalty(store: Store) -> None:
    store.upsert(BASE_EVENTS)


REDEMPTIONS_ACROSS: list[Order | LoyaltyEvent] = [
    # an order of October in dollars (5 reais each), redeemed on December 15th without a
    # value of its own: the redemption is worth the order's loyalty discount, 12.34 x 5
    order("p1", 1, 650, 5000, loyalty_discount=Decimal("12.34"), currency="USD",
          fx_rate=Decimal("5")),
    event("q1", "redeem", 1, 714, -30, order_id="p1"),
    # a cancelled order of October, redeemed on December 16th: no redemption
    order("p2", 2, 640, 3000, status="cancelled"),
    event("q2", "redeem", 2, 715, -40, order_id="p2", discount=Decimal("9")),
    # an order of December 17th that redeemed by its own fields, whose redeem event is dated
    # November 21st: a November redemption, and no order-only one in December
    order("p3", 4, 716, 8000, loyalty_points_redeemed=70, loyalty_discount=Decimal("7.00")),
    event("q3", "redeem", 4, 690, -70, order_id="p3"),
    # an order-only redemption of December 18th in euros (6.20 reais each): 1.50 x 6.2
    order("p4", 5, 717, 2000, loyalty_points_redeemed=15, loyalty_discount=Decimal("1.50"),
          currency="EUR", fx_rate=Decimal("6.2")),
]
"""Redemptions across the newest period's start (a redeem event after it on an order before
it, valid or not, and one before it on an order after it) and an order-only one, in three
currencies: a warm call reads them from the carried state (`clientela.kpi.carried_redemptions`)."""


def add_redemptions(store: Store) -> None:
    store.upsert([r for r in REDEMPTIONS_ACROSS if isinstance(r, Order)])
    store.upsert([r for r in REDEMPTIONS_ACROSS if isinstance(r, LoyaltyEvent)])


EARNS_ACROSS: list[Order | LoyaltyEvent] = [
    # an order of December 6th that no field says earned, whose earn event is dated
    # November 21st: a scored order of December
    order("s1", 3, 705, 2500),
    event("g1", "earn", 3, 690, 25, order_id="s1"),
    # an order of December 9th scored by an earn event of its own day
    order("s2", 0, 708, 1800),
    event("g2", "earn", 0, 708, 18, order_id="s2", expires_in=365),
]
"""Orders scored across the newest period's start (an earn event before it on an order
after it) and within it: a warm call reads the first from the carried state
(`clientela.kpi.carried_earns`)."""


def add_earns(store: Store) -> None:
    store.upsert([r for r in EARNS_ACROSS if isinstance(r, Order)])
    store.upsert([r for r in EARNS_ACROSS if isinstance(r, LoyaltyEvent)])


def kept_loyalty(path: Path, *more: Callable[[Store], None]) -> Store:
    """A store with the base orders and loyalty events, `more` written (add_redemptions,
    add_earns), and the loyalty metrics answered once, so their state is kept."""
    store = build(path)
    add_loyalty(store)
    for add in more:
        add(store)
    compute(store, LOYALTY, reuse=True, **SPAN)
    return store


def build(path: Path) -> Store:
    store = Store(path)
    store.upsert([customer(i) for i in range(CUSTOMERS)])
    store.upsert([order(f"o{i}", c, day, cents) for i, (c, day, cents) in enumerate(BASE_ORDERS)])
    return store


RATES = {"USD": Decimal("5"), "EUR": Decimal("6.2")}
"""Reporting-currency units per unit of the foreign currencies an edit may place an order in."""


@dataclass
class Editor:
    """Applies one edit to the store as a source, a webhook or a person would."""

    store: Store
    added: int = 0

    def orders(self) -> list[Order]:
        rows = self.store.con.execute(
            "SELECT order_id, customer_id, status, placed_at, total, refunded_amount, channel, "
            "loyalty_points_redeemed, loyalty_discount, currency, fx_rate "
            "FROM orders ORDER BY order_id").fetchall()
        return [Order(source=SOURCE, order_id=oid, customer_id=cid, status=status,
                      placed_at=placed.replace(tzinfo=UTC), subtotal=total, total=total,
                      refunded_amount=refunded, channel=channel,
                      loyalty_points_redeemed=points, loyalty_discount=discount,
                      currency=currency, fx_rate=rate)
                for (oid, cid, status, placed, total, refunded, channel, points, discount,
                     currency, rate) in rows]

    def apply(self, edit: tuple[Any, ...]) -> None:
        kind, *args = edit
        getattr(self, kind)(*args)

    def new(self, customer_index: int | None, day: int, cents: int) -> None:
        self.added += 1
        self.store.upsert([order(f"n{self.added}", customer_index, day, cents)])

    def redeemed(self, customer_index: int, day: int, points: int, currency: str) -> None:
        """A new order that redeemed `points` by its own fields (worth a cent each in its
        currency), in the reporting currency ("") or another (RATES)."""
        self.added += 1
        self.store.upsert([order(f"n{self.added}", customer_index, day, 5000,
                                 loyalty_points_redeemed=points,
                                 loyalty_discount=Decimal(points) / 100, currency=currency,
                                 fx_rate=RATES.get(currency))])

    def refund(self, pick: int, share: float) -> None:
        found = self.orders()[pick % len(self.orders())]
        refunded = (found.total * Decimal(str(share))).quantize(Decimal("0.01"))
        status = "refunded" if refunded == found.total else "partially_refunded"
        self.store.upsert([found.model_copy(update={"refunded_amount": refunded,
                                                    "status": status})])

    def cancel(self, pick: int) -> None:
        found = self.orders()[pick % len(self.orders())]
        self.store.upsert([found.model_copy(update={"status": "cancelled"})])

    def move(self, pick: int, day: int) -> None:
        found = self.orders()[pick % len(self.orders())]
        moved = DAY0 + timedelta(days=day, hours=3)
        self.store.upsert([found.model_copy(update={"placed_at": moved})])

    def touch(self, touch_index: int, customer_index: int, campaign_index: int,
              day: int) -> None:
        """A contact written: `t<touch_index>` new or, when it exists, moved (another
        customer, campaign or day)."""
        self.store.upsert([touch(f"t{touch_index}", customer_index, campaign_index, day)])

    def loyalty(self, kind: str, customer_index: int, day: int, points: int, pick: int,
                expires_in: int | None) -> None:
        """A loyalty event of `kind` (earn, redeem, expire, adjust or reverse), tied to an
        order picked among the store's (one in three: none), or, for `move`, an event
        moved to `day`."""
        if kind == "move":
            rows = self.store.con.execute("SELECT event_id FROM loyalty_events "
                                          "ORDER BY event_id").fetchall()
            found = self.store.con.execute(
                "SELECT * FROM loyalty_events WHERE event_id = ?",
                [rows[pick % len(rows)][0]]).fetch_arrow_table().to_pylist()[0]
            moved = DAY0 + timedelta(days=day, hours=5)
            self.store.upsert([LoyaltyEvent.model_validate({
                **{k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v
                   for k, v in found.items() if k in LoyaltyEvent.model_fields},
                "occurred_at": moved})])
            return
        self.added += 1
        orders = self.orders()
        tied = None if pick % 3 == 0 else orders[pick % len(orders)].order_id
        signed = points if kind in ("earn", "adjust") else -points
        self.store.upsert([event(f"n{self.added}", kind, customer_index, day, signed,
                                 order_id=tied,
                                 expires_in=expires_in if kind == "earn" else None,
                                 discount=Decimal(points) / 10 if pick % 2 else None)])

    def untouch(self, touch_index: int, how: str) -> None:
        """A contact taken out of the contacted group, when it exists: out of every campaign
        (`campaign_id` emptied) or made a control touch."""
        found = self.store.con.execute(
            "SELECT customer_id, campaign_id, occurred_at FROM touches WHERE touch_id = ?",
            [f"t{touch_index}"]).fetchone()
        if found is None:
            return
        customer_id, campaign_id, occurred_at = found
        self.store.upsert([Touch(
            source=SOURCE, touch_id=f"t{touch_index}", customer_id=customer_id,
            campaign_id=None if how == "uncampaign" else campaign_id, channel="email",
            occurred_at=occurred_at.replace(tzinfo=UTC), is_control=how == "control")])

    def campaign(self, index: int, day: int, cost: int) -> None:
        """A campaign row rewritten: moved to another start (and so another period), with
        another cost; its contacts stay."""
        self.store.upsert([Campaign(source=SOURCE, campaign_id=CAMPAIGNS[index],
                                    name=CAMPAIGNS[index], channel="email",
                                    started_at=DAY0 + timedelta(days=day), cost=Decimal(cost))])

    def new_campaign(self, day: int, cost: int, kind: str) -> None:
        """NEW_CAMPAIGN's row written: new the first time (a campaign started), rewritten
        after."""
        self.store.upsert([Campaign(source=SOURCE, campaign_id=NEW_CAMPAIGN, name=NEW_CAMPAIGN,
                                    channel="email", kind=kind,
                                    started_at=DAY0 + timedelta(days=day), cost=Decimal(cost))])

    def unread(self) -> None:
        """A write logged without a date, of an entity no metric compared reads (as a
        products table's write would be logged)."""
        record_everything(self.store.con, "products")

    def channel(self, index: int, channel: str) -> None:
        self.store.upsert([customer(index, channel)])

    def merge(self, index: int, into: int) -> None:
        self.store.con.execute(f"INSERT OR REPLACE INTO {IDENTITY_LINKS_TABLE} VALUES (?, ?, ?, ?)",
                               [f"c{index}", f"c{into}", "email", datetime(2025, 1, 1)])

    def forget(self, index: int) -> None:
        forget(self.store, email(index), {})


class RecordingCache(TableCache):
    """A TableCache that remembers every instance the engine makes (a test puts it in the
    engine's place, then reads what each call wrote out)."""

    made: ClassVar[list[RecordingCache]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingCache.made.append(self)
