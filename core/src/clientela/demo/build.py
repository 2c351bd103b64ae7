"""The demo store, end to end: one seeded call, one Arrow table per entity, and the truth.

Each part of the store draws from its own random stream (derived from the
seed and the part's name), so changing how, say, NPS answers are drawn does
not reshuffle every order. The window ends on a fixed date by default
(`DEFAULT_END`, 2025-12-31), so a seed always gives the same store whatever
the date it runs on.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa

from clientela.demo import arrays
from clientela.demo.arrays import Numbering
from clientela.demo.calendar import (
    DEFAULT_END,
    SECONDS_PER_DAY,
    UTC_OFFSET_HOURS,
    Seasonality,
    TimeWarp,
    Window,
)
from clientela.demo.campaigns import (
    ATTRIBUTION_DAYS,
    SEASONAL_UPLIFT_FACTOR,
    UPLIFT,
    Audience,
    CampaignPlan,
    campaign_costs,
    campaign_ids,
    campaigns_table,
    plan_campaigns,
    pull_forward,
    select_audiences,
    treated_counts,
)
from clientela.demo.catalog import Catalogue, build_catalogue
from clientela.demo.customers import (
    ACQUISITION_CHANNELS,
    Customers,
    customers_table,
    draw_customers,
)
from clientela.demo.engagement import nps_table, opportunities_table
from clientela.demo.loyalty import LoyaltyRules
from clientela.demo.marketing import (
    CAC_CENTS,
    CONVERSION_RATE,
    TRAFFIC_CHANNELS,
    buyers_by_acquisition,
    daily_orders,
    spend_table,
    traffic_table,
)
from clientela.demo.orders import (
    CAMPAIGN,
    CANCELLED_SHARE,
    FIRST,
    FULL_REFUND_SHARE,
    ORIGINS,
    REPEAT,
    OrderBook,
    Purchases,
    build_orders,
)
from clientela.demo.pricing import COUPONS, fx_series
from clientela.demo.purchases import (
    DROPOUT_A,
    R_SHAPE,
    Latent,
    dropout_b,
    one_a_day,
    solve_alpha,
)
from clientela.demo.touches import touches_table
from clientela.demo.truth import CampaignTruth, Truth
from clientela.model.entities import ENTITIES

BUYER_SHARE = 0.95
"""The rest of the customers signed up (newsletter, Wi-Fi) and never bought."""


@dataclass(frozen=True)
class Tables:
    """Arrow tables keyed by the entity's store table name: a block of the store, or all of it."""

    tables: dict[str, pa.Table]

    def __getitem__(self, table: str) -> pa.Table:
        return self.tables[table]

    def counts(self) -> dict[str, int]:
        return {name: table.num_rows for name, table in self.tables.items()}


@dataclass(frozen=True)
class DemoData(Tables):
    """One Arrow table per entity, keyed by the entity's store table name, plus the truth."""

    truth: Truth


def random_stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one part of the store (see the module's docstring)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


_stream = random_stream


BLOCK_ORDERS = 500_000
"""Orders per block at most: a block's working set stays well under 1 GB (about 0.7 GB)."""


@dataclass(frozen=True)
class _Shared:
    """What every block of one store shares: calendar, campaigns, prices, catalogue."""

    seed: int
    window: Window
    season: Seasonality
    warp: TimeWarp
    plans: list[CampaignPlan]
    fx: np.ndarray
    catalogue: Catalogue


def block_sizes(customers: int, orders: int, block_orders: int = BLOCK_ORDERS
                ) -> list[tuple[int, int]]:
    """(customers, orders) of each block: as even as whole numbers allow, summing to the asked."""
    if block_orders < 1:
        raise ValueError("block_orders must be positive")
    k = max(1, min(-(-orders // block_orders), customers // 10, orders // 10))
    edges_c = [customers * i // k for i in range(k + 1)]
    edges_o = [orders * i // k for i in range(k + 1)]
    return [(edges_c[i + 1] - edges_c[i], edges_o[i + 1] - edges_o[i]) for i in range(k)]


class DemoBuilder:
    """The demo store, generated block by block so memory stays flat at any size.

    Customers are split into blocks (`block_sizes`), each with its share of
    the orders; a block is a complete piece of the store (its customers and
    everything they did) drawn from random streams of its own, with keys
    numbered after the previous block's. Up to BLOCK_ORDERS orders the store
    is one block, drawn exactly as it always was. What spans blocks is shared
    (calendar, campaign plans, catalogue, exchange rates, and the BG/NBD
    parameters: alpha and b are solved on the first block and kept, so the
    truth is one process) or summed (campaign costs and truth, marketing
    spend, traffic), and written once the last block is done.

    Between blocks: customer keys ascend with acquisition time and order keys
    with placing time within a block; VIP tags use a block's own 95th
    percentile; the order count is the asked one to within sampling noise
    (exact for one block).

        builder = DemoBuilder(customers=1_000_000, orders=10_000_000)
        for tables in builder.blocks():        # dict table -> Arrow table
            ...write them...
        builder.store_wide()                   # campaigns, marketing_spend, traffic
        builder.truth()
    """

    def __init__(self, customers: int = 20_000, orders: int = 100_000, seed: int = 42,
                 years: int = 3, end: date | None = None, block_orders: int | None = None,
                 keep_per_customer: bool = True) -> None:
        if customers < 10:
            raise ValueError("customers must be at least 10")
        if orders < 10:
            raise ValueError("orders must be at least 10")
        if years < 1:
            raise ValueError("years must be at least 1")
        if seed < 0:
            raise ValueError("seed must not be negative")
        self.customers, self.orders, self.seed = customers, orders, seed
        # BLOCK_ORDERS read at each call, not bound at import: a test may make blocks small
        self.sizes = block_sizes(customers, orders,
                                 BLOCK_ORDERS if block_orders is None else block_orders)
        self.keep_per_customer = keep_per_customer
        window = Window.ending(end or DEFAULT_END, years)
        season = Seasonality.retail(window)
        self.shared = _Shared(
            seed=seed, window=window, season=season, warp=TimeWarp.of(season),
            plans=plan_campaigns(_stream(seed, "campaigns"), window),
            fx=fx_series(_stream(seed, "fx"), window.n_days),
            catalogue=build_catalogue(_stream(seed, "catalogue")),
        )
        one = len(self.sizes) == 1
        self.numbering = Numbering(width=0 if one else max(8, len(str(10 * orders))))
        self.customer_width = 0 if one else max(7, len(str(customers)))
        self.alpha: float | None = None
        self.b = 0.0
        n_plans = len(self.shared.plans)
        self.treated = np.zeros(n_plans, dtype=np.int64)
        self.campaign_tallies = np.zeros((5, n_plans + 1))
        self.buyers_per_channel = np.zeros(len(ACQUISITION_CHANNELS), dtype=np.int64)
        self.orders_per_day = np.zeros((len(TRAFFIC_CHANNELS), window.n_days), dtype=np.int64)
        self.origins: dict[str, int] = {}
        self.buyers = 0
        self.per_customer: list[pa.Table] = []
        self.per_customer_schema = pa.schema([])
        self._done = False

    @property
    def n_blocks(self) -> int:
        return len(self.sizes)

    def blocks(self) -> Iterator[dict[str, pa.Table]]:
        """Each block's customers and what they did, one dict of tables per block."""
        first_customer = 1
        for index, (customers, orders) in enumerate(self.sizes):
            yield self._block(index, customers, orders, first_customer)
            first_customer += customers
        self._done = True

    def store_wide(self) -> dict[str, pa.Table]:
        """Campaigns, marketing spend and traffic: totals over every block."""
        self._check_done()
        shared, seed = self.shared, self.seed
        costs = campaign_costs(shared.plans, self.treated)
        return {
            "campaigns": campaigns_table(shared.plans, costs, shared.window),
            "marketing_spend": spend_table(_stream(seed, "spend"), self.buyers_per_channel,
                                           shared.season, shared.plans, costs, shared.window),
            "traffic": traffic_table(_stream(seed, "traffic"), self.orders_per_day,
                                     shared.window),
        }

    def truth(self) -> Truth:
        self._check_done()
        shared = self.shared
        assert self.alpha is not None
        per_customer = (pa.concat_tables(self.per_customer) if len(self.per_customer) > 1
                        else self.per_customer[0] if self.per_customer
                        else self.per_customer_schema.empty_table())
        return Truth(
            seed=self.seed,
            start=shared.window.start,
            end=shared.window.end,
            utc_offset_hours=UTC_OFFSET_HOURS,
            time_unit="day",
            r=R_SHAPE,
            alpha=self.alpha,
            a=DROPOUT_A,
            b=self.b,
            customers=self.customers,
            buyers=self.buyers,
            orders_by_origin=dict(self.origins),
            seasonality=dict(shared.season.multipliers),
            attribution_days=ATTRIBUTION_DAYS,
            campaign_uplift=dict(UPLIFT),
            seasonal_uplift_factor=SEASONAL_UPLIFT_FACTOR,
            campaigns=_campaign_truth(shared.plans, self.campaign_tallies),
            cac={channel: _brl(cents) for channel, cents in CAC_CENTS.items()},
            conversion_rate=dict(CONVERSION_RATE),
            loyalty=LoyaltyRules(),
            tax_included=True,
            reporting_currency="BRL",
            per_customer=per_customer,
        )

    def _check_done(self) -> None:
        if not self._done:
            raise RuntimeError("generate every block (DemoBuilder.blocks) first")

    def _block(self, index: int, customers: int, orders: int, first_customer: int
               ) -> dict[str, pa.Table]:
        shared, seed = self.shared, self.seed
        window, warp, plans = shared.window, shared.warp, shared.plans

        def stream(name: str) -> np.random.Generator:
            return _stream(seed, name if index == 0 else f"{name}/block{index}")

        n_invalid = round((CANCELLED_SHARE + FULL_REFUND_SHARE) * orders)
        buyers = max(1, min(round(BUYER_SHARE * customers), round(0.55 * orders)))
        people = draw_customers(stream("customers"), customers, buyers, window, shared.season,
                                first=first_customer, width=self.customer_width)
        audience = select_audiences(stream("audiences"), people, plans, window)

        buyer_index = np.flatnonzero(people.buyer)
        position = np.full(customers, -1, dtype=np.int64)
        position[buyer_index] = np.arange(len(buyer_index))
        acquired_op = warp.to_operational(people.acquired[buyer_index])
        wanted = max(orders - len(buyer_index) - n_invalid, 0)
        if self.alpha is None:
            self.b = dropout_b(wanted / len(buyer_index))
        # one purchase a local day at most: the days after the acquisition day cap the repeats
        days_left = window.n_days - 1 - np.floor(people.acquired[buyer_index]).astype(np.int64)
        latent = Latent.draw(stream("process"), acquired_op, warp.total, R_SHAPE,
                             DROPOUT_A, self.b, max_repeats=days_left)
        if self.alpha is None:
            self.alpha = solve_alpha(latent, wanted)
        alpha = self.alpha
        buyer_of, op_time = latent.purchases(alpha)
        dropout_age = latent.dropout_age(alpha)
        repeat_time = warp.to_calendar(op_time)
        moved, extra = pull_forward(audience, buyer_of, repeat_time, len(buyer_index), position)
        origin = np.full(len(buyer_of), REPEAT, dtype=np.int8)
        origin[moved] = CAMPAIGN
        campaign = np.full(len(buyer_of), -1, dtype=np.int64)
        campaign[moved] = audience.campaign[extra]
        plan_coupon = np.array([COUPONS.index(p.coupon) if p.coupon else -1 for p in plans] + [-1])
        customer = np.concatenate([buyer_index, buyer_index[buyer_of]])
        purchases = Purchases(
            customer=customer,
            time=one_a_day(customer, np.concatenate([people.acquired[buyer_index], repeat_time]),
                           window.n_days),
            origin=np.concatenate([np.full(len(buyer_index), FIRST, dtype=np.int8), origin]),
            campaign=np.concatenate([np.full(len(buyer_index), -1), campaign]),
            campaign_coupon=np.concatenate([np.full(len(buyer_index), -1),
                                            np.where(campaign >= 0, plan_coupon[campaign], -1)]),
        )
        numbering = self.numbering
        built = build_orders(stream("orders"), people, purchases, n_invalid, window,
                             shared.catalogue, shared.fx, numbering)
        book = built.book
        ids = people.ids

        created, updated, vip = _customer_dates(stream("signup"), people, book)
        tables = {
            "customers": customers_table(stream("contacts"), people, window.utc_us(created),
                                         window.utc_us(updated), vip),
            "orders": built.orders,
            "order_lines": built.lines,
            "touches": touches_table(stream("touches"), plans, audience, book, ids, window,
                                     numbering),
            "loyalty_events": built.loyalty,
            "opportunities": opportunities_table(stream("opportunities"), people, ids,
                                                 window, shared.season, numbering),
            "nps_responses": nps_table(stream("nps"), book, ids, window, numbering),
        }
        self.numbering = Numbering(width=numbering.width, first={
            prefix: numbering.first.get(prefix, 1) + tables[table].num_rows
            for prefix, table in (("o", "orders"), ("le", "loyalty_events"), ("t", "touches"),
                                  ("op", "opportunities"), ("nps", "nps_responses"))
        })
        self.treated += treated_counts(plans, audience)
        self.campaign_tallies += _campaign_tallies(len(plans), audience, extra, book)
        self.buyers_per_channel += buyers_by_acquisition(people)
        self.orders_per_day += daily_orders(book, window)
        for name, count in _origins(book).items():
            self.origins[name] = self.origins.get(name, 0) + count
        self.buyers += len(buyer_index)
        per_customer = _per_customer(latent, alpha, dropout_age, buyer_index, buyer_of, people,
                                     warp, window)
        self.per_customer_schema = per_customer.schema
        if self.keep_per_customer:
            self.per_customer.append(per_customer)
        return tables


def generate(
    customers: int = 20_000,
    orders: int = 100_000,
    seed: int = 42,
    years: int = 3,
    end: date | None = None,
    block_orders: int | None = None,
) -> DemoData:
    """A realistic, deterministic retail store: same arguments, same tables, byte for byte.

    Everything in memory; `DemoBuilder` gives the same store block by block.
    """
    builder = DemoBuilder(customers, orders, seed, years, end, block_orders)
    parts: dict[str, list[pa.Table]] = {}
    for block in builder.blocks():
        for name, table in block.items():
            parts.setdefault(name, []).append(table)
    tables = {name: found[0] if len(found) == 1 else pa.concat_tables(found)
              for name, found in parts.items()}
    tables.update(builder.store_wide())
    tables = {model.table: tables[model.table] for model in ENTITIES}
    return DemoData(tables=tables, truth=builder.truth())


def _customer_dates(
    rng: np.random.Generator, people: Customers, book: OrderBook
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """created_at just before the first order (in a shop, at it); updated_at at the last order."""
    n = people.n
    lead = np.where(rng.random(n) < 0.5, rng.integers(60, 1800, n), 0)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, book.customer, book.time_s)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, book.customer, book.time_s)
    signup = np.floor(people.acquired * SECONDS_PER_DAY).astype(np.int64)
    created = np.where(people.buyer, np.maximum(first - lead, 0), signup)
    updated = np.maximum(created, last)
    revenue = np.bincount(book.customer, weights=book.revenue_brl_cents(), minlength=n)
    cut = np.quantile(revenue[people.buyer], 0.95) if people.buyer.any() else np.inf
    return created, updated, people.buyer & (revenue >= cut) & (revenue > 0)


def _brl(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _origins(book: OrderBook) -> dict[str, int]:
    counts = {name: int((book.origin == code).sum()) for code, name in enumerate(ORIGINS)}
    counts["cancelled"] = int((book.status == 5).sum())
    counts["refunded"] = int((book.status == 4).sum())
    counts["partially_refunded"] = int((book.status == 3).sum())
    counts.pop("invalid")
    return counts


def _campaign_tallies(n: int, audience: Audience, extra: np.ndarray, book: OrderBook
                      ) -> np.ndarray:
    """Per campaign (n plans + the relationship one): contacted, control, incremental orders,
    incremental revenue (cents) and converters brought in; rows summed over blocks."""
    contacted = np.bincount(audience.campaign[~audience.control], minlength=n)
    control = np.bincount(audience.campaign[audience.control], minlength=n)
    from_campaign = (book.origin == CAMPAIGN) & book.valid
    incremental = np.bincount(book.campaign[from_campaign], minlength=n)
    revenue = np.bincount(book.campaign[from_campaign],
                          weights=book.revenue_brl_cents()[from_campaign], minlength=n)
    # Which purchases brought forward turned a non-converter into a converter?
    valid = np.flatnonzero(book.valid)
    span = int(book.time_s.max(initial=0)) + 30 * SECONDS_PER_DAY
    keys = np.sort(book.customer[valid] * span + book.time_s[valid])
    touch_s = np.floor(audience.time[extra] * SECONDS_PER_DAY).astype(np.int64)
    base = audience.customer[extra] * span + touch_s
    in_window = np.searchsorted(keys, base + ATTRIBUTION_DAYS * SECONDS_PER_DAY, side="right") \
        - np.searchsorted(keys, base, side="right")
    converted = np.bincount(audience.campaign[extra][in_window <= 1], minlength=n)
    tallies = np.zeros((5, n + 1))
    for row, values in enumerate((contacted, control, incremental, revenue, converted)):
        tallies[row, : len(values)] = values
    return tallies


def _campaign_truth(plans: list[CampaignPlan], tallies: np.ndarray
                    ) -> tuple[CampaignTruth, ...]:
    contacted, control, incremental, revenue, converted = tallies
    ids = campaign_ids(len(plans))
    return tuple(
        CampaignTruth(
            campaign_id=ids[i],
            name=plan.name,
            channel=plan.channel,
            uplift=plan.uplift,
            control_share=plan.control_share,
            contacted=int(contacted[i]),
            control=int(control[i]),
            incremental_orders=int(incremental[i]),
            incremental_revenue=_brl(int(np.rint(revenue[i]))),
            conversion_lift=float(converted[i] / contacted[i]) if contacted[i] else 0.0,
        )
        for i, plan in enumerate(plans)
    )


def _per_customer(
    latent: Latent,
    alpha: float,
    dropout_age: np.ndarray,
    buyer_index: np.ndarray,
    buyer_of: np.ndarray,
    people: Customers,
    warp: TimeWarp,
    window: Window,
) -> pa.Table:
    dropout_op = latent.acquired_op + dropout_age
    alive = dropout_op >= warp.total
    dropout_day = warp.to_calendar(np.where(alive, 0.0, dropout_op))
    dropout_s = np.floor(dropout_day * SECONDS_PER_DAY).astype(np.int64)
    return pa.table({
        "customer_id": people.ids.take(pa.array(buyer_index)),
        "rate": pa.array(latent.rates(alpha), pa.float64()),
        "p": pa.array(latent.p, pa.float64()),
        "repeat_purchases": arrays.integers(np.bincount(buyer_of, minlength=latent.n)),
        "alive_at_end": pa.array(alive, pa.bool_()),
        "dropout_at": arrays.timestamps(window.utc_us(dropout_s), mask=alive),
        "spend_tier": pa.array(people.spend_tier[buyer_index], pa.float64()),
    })
