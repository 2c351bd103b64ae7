"""Who the demo store's customers are and how they came.

Customers are drawn first, as plain numpy columns, because everything else
(purchases, campaigns, loyalty) depends on when each one was acquired, how
to reach them and what they may be sent. The Arrow table is only built at
the end, once first and last orders are known (created_at, updated_at, tags).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from clientela.demo import arrays
from clientela.demo.calendar import FloatArray, IntArray, Seasonality, Window, sample_days
from clientela.demo.vocabulary import (
    CITIES,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    FOREIGN_CITIES,
    MALE_NAMES,
    STORES,
    SURNAMES,
    ascii_fold,
)
from clientela.model.entities import Customer
from clientela.model.types import Consent

BoolArray = NDArray[np.bool_]

ORDER_CHANNELS = ("online", "store", "app", "whatsapp", "marketplace")
ONLINE, STORE, APP, WHATSAPP, MARKETPLACE = range(5)
ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "referral", "store", "marketplace")
ACQUISITION_MIX = np.array([0.28, 0.22, 0.17, 0.08, 0.18, 0.07])
CONSENTS = (Consent.SUBSCRIBED.value, Consent.PENDING.value, Consent.UNSUBSCRIBED.value,
            Consent.UNKNOWN.value)
SUBSCRIBED = 0
# subscribed, pending, unsubscribed, unknown: for a customer who has the contact at all
CONSENT_MIX = {
    "email": np.array([0.60, 0.04, 0.14, 0.22]),
    "sms": np.array([0.40, 0.0, 0.15, 0.45]),
    "whatsapp": np.array([0.46, 0.0, 0.10, 0.44]),
}
LOYALTY_ENROLMENT = 0.7
FOREIGN_SHARE = 0.02
"""Share of buyers abroad; they pay in USD, which makes about 2% of orders USD."""

# Per acquisition channel: how likely each order channel is as a customer's habit.
_PRIMARY = {
    "store": [0.10, 0.70, 0.05, 0.15, 0.0],
    "marketplace": [0.20, 0.0, 0.05, 0.0, 0.75],
    "default": [0.50, 0.08, 0.30, 0.07, 0.05],
}


@dataclass(frozen=True)
class Customers:
    """The drawn customers, sorted by acquisition time (so keys ascend with it)."""

    n: int
    acquired: FloatArray
    """Calendar day (float, local) of acquisition: the first order for a buyer."""
    buyer: BoolArray
    foreign: BoolArray
    acquisition: NDArray[np.int8]
    city: IntArray
    home_store: IntArray
    """Index into STORES, -1 for customers far from every shop."""
    primary_channel: NDArray[np.int8]
    member: BoolArray
    has_email: BoolArray
    has_phone: BoolArray
    consent: dict[str, NDArray[np.int8]]
    spend_tier: FloatArray
    """Where in each category's price range this customer usually buys (0 cheap .. 1 dear)."""
    favourite_seller: IntArray
    female: BoolArray
    first_name: IntArray
    surname: IntArray
    second_surname: IntArray
    """-1 when the customer uses one surname."""
    birth_days: IntArray
    """Days since the Unix epoch; -1 when unknown."""
    shoe_size: IntArray
    wholesale: BoolArray
    first: int = 1
    """The first customer's number (a block of a larger store starts after the previous)."""
    width: int = 0
    """Digits of the keys; 0: as many as this many customers need."""

    @property
    def numbers(self) -> IntArray:
        return np.arange(self.first, self.first + self.n, dtype=np.int64)

    @property
    def ids(self) -> pa.Array:
        return arrays.keys("c", self.numbers, self.width or _width(self.n))

    def reachable(self, channel: str) -> BoolArray:
        """Subscribed on the channel and holding the contact it needs."""
        contact = self.has_email if channel == "email" else self.has_phone
        reachable: BoolArray = contact & (self.consent[channel] == SUBSCRIBED)
        return reachable


def _width(n: int) -> int:
    return max(7, len(str(n)))


def _choice(rng: np.random.Generator, probabilities: FloatArray, n: int) -> IntArray:
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def draw_customers(
    rng: np.random.Generator, n: int, buyers: int, window: Window, seasonality: Seasonality,
    first: int = 1, width: int = 0,
) -> Customers:
    growth = np.linspace(0.6, 1.4, window.n_days)  # the business grows over its life
    acquired = np.sort(sample_days(rng, growth * seasonality.intensity, n))
    buyer = np.zeros(n, dtype=bool)
    buyer[rng.choice(n, size=buyers, replace=False)] = True
    foreign = np.zeros(n, dtype=bool)
    n_foreign = round(FOREIGN_SHARE * buyers)
    foreign[rng.choice(np.flatnonzero(buyer), size=n_foreign, replace=False)] = True

    city = _choice(rng, np.array([c[5] for c in CITIES]), n)
    foreign_city = len(CITIES) + _choice(rng, np.array([c[5] for c in FOREIGN_CITIES]), n)
    city = np.where(foreign, foreign_city, city)
    home_store = np.array([c[4] for c in (*CITIES, *FOREIGN_CITIES)])[city]

    acquisition = _choice(rng, ACQUISITION_MIX, n).astype(np.int8)
    shopless = (home_store < 0) & (acquisition == ACQUISITION_CHANNELS.index("store"))
    acquisition[shopless] = ACQUISITION_CHANNELS.index("organic")
    abroad_mix = np.array([0.5, 0.3, 0.2])  # organic, paid_search, social
    acquisition[foreign] = _choice(rng, abroad_mix, int(foreign.sum())).astype(np.int8)

    primary = np.empty(n, dtype=np.int8)
    for name in ("store", "marketplace", "default"):
        if name == "default":
            chosen = ~np.isin(acquisition, [ACQUISITION_CHANNELS.index(k)
                                            for k in ("store", "marketplace")])
        else:
            chosen = acquisition == ACQUISITION_CHANNELS.index(name)
        primary[chosen] = _choice(rng, np.array(_PRIMARY[name]), int(chosen.sum()))
    primary[(home_store < 0) & (primary == STORE)] = ONLINE
    primary[foreign] = ONLINE

    store_acquired = acquisition == ACQUISITION_CHANNELS.index("store")
    has_email = rng.random(n) < np.where(store_acquired, 0.80, 0.97)
    has_phone = rng.random(n) < np.where(store_acquired, 0.97, 0.86)
    consent = {}
    for channel, mix in CONSENT_MIX.items():
        codes = _choice(rng, mix, n).astype(np.int8)
        contact = has_email if channel == "email" else has_phone
        codes[~contact] = CONSENTS.index(Consent.UNKNOWN.value)
        if channel != "email":
            codes[foreign & (codes == SUBSCRIBED)] = CONSENTS.index(Consent.UNKNOWN.value)
        consent[channel] = codes
    consent["email"][~buyer & has_email] = SUBSCRIBED  # leads are newsletter sign-ups

    female = rng.random(n) < 0.62
    first_name = np.where(
        female, rng.integers(0, len(FEMALE_NAMES), n), rng.integers(0, len(MALE_NAMES), n)
    )
    surname = rng.integers(0, len(SURNAMES), n)
    second = np.where(rng.random(n) < 0.3, rng.integers(0, len(SURNAMES), n), -1)
    age_years = 18 + 62 * rng.beta(2.0, 3.5, n)
    end_epoch = int(window.epoch_days(np.array([window.n_days - 1]))[0])
    birth = (end_epoch - age_years * 365.25).astype(np.int64)
    birth[rng.random(n) < 0.15] = -1
    shoe = np.where(female, rng.integers(34, 40, n), rng.integers(38, 45, n))

    return Customers(
        n=n,
        acquired=acquired,
        buyer=buyer,
        foreign=foreign,
        acquisition=acquisition,
        city=city,
        home_store=home_store,
        primary_channel=primary,
        member=~foreign & (rng.random(n) < LOYALTY_ENROLMENT),
        has_email=has_email,
        has_phone=has_phone,
        consent=consent,
        spend_tier=rng.beta(2.0, 3.0, n),
        favourite_seller=rng.integers(0, 4, n),
        female=female,
        first_name=first_name,
        surname=surname,
        second_surname=second,
        birth_days=birth,
        shoe_size=shoe,
        wholesale=rng.random(n) < 0.01,
        first=first,
        width=width,
    )


def _emails(rng: np.random.Generator, c: Customers) -> pa.Array:
    """Unique by construction: the customer's number is part of the local part."""
    first = np.where(c.female, c.first_name, c.first_name + len(FEMALE_NAMES))
    folded_first = [ascii_fold(name) for name in (*FEMALE_NAMES, *MALE_NAMES)]
    folded_last = [ascii_fold(name).replace(" ", "") for name in SURNAMES]
    separator = arrays.pick((".", "", "_", "."), rng.integers(0, 4, c.n))
    domain = arrays.pick(EMAIL_DOMAINS, _choice(rng, np.array([0.35, 0.45, 0.1, 0.1]), c.n))
    emails = arrays.join(
        arrays.pick(folded_first, first), separator, arrays.pick(folded_last, c.surname),
        arrays.number_text(c.numbers), "@", domain,
    )
    return _masked(emails, ~c.has_email)


def _masked(values: pa.Array, mask: BoolArray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def _phones(rng: np.random.Generator, c: Customers) -> pa.Array:
    places = (*CITIES, *FOREIGN_CITIES)
    prefix = arrays.pick([p[3] for p in places], c.city)
    mobile = arrays.join(prefix, "9", arrays.number_text(rng.integers(0, 10**8, c.n), 8))
    abroad = arrays.join(prefix, arrays.number_text(rng.integers(0, 10**7, c.n), 7))
    return _masked(pc.if_else(pa.array(c.foreign), abroad, mobile), ~c.has_phone)


TAGS = ("fidelidade", "newsletter", "vip", "internacional", "atacado")


def customers_table(
    rng: np.random.Generator,
    c: Customers,
    created_us: IntArray,
    updated_us: IntArray,
    vip: BoolArray,
) -> pa.Table:
    places = (*CITIES, *FOREIGN_CITIES)
    surname = arrays.pick(SURNAMES, c.surname)
    second = arrays.pick(SURNAMES, np.maximum(c.second_surname, 0), mask=c.second_surname < 0)
    last_name = pc.if_else(
        pa.array(c.second_surname >= 0), arrays.join(surname, " ", second), surname
    )
    first_name = arrays.pick(
        (*FEMALE_NAMES, *MALE_NAMES),
        np.where(c.female, c.first_name, c.first_name + len(FEMALE_NAMES)),
    )
    flags = np.column_stack([
        c.member,
        c.consent["email"] == SUBSCRIBED,
        vip,
        c.foreign,
        c.wholesale,
    ])
    attributes = arrays.join(
        '{"gender": "', arrays.pick(("m", "f"), c.female.astype(np.int64)),
        '", "shoe_size": ', arrays.number_text(c.shoe_size), "}",
    )
    columns = {
        "customer_id": c.ids,
        "email": _emails(rng, c),
        "phone": _phones(rng, c),
        "first_name": first_name,
        "last_name": last_name,
        "birth_date": arrays.dates(c.birth_days, mask=c.birth_days < 0),
        "created_at": arrays.timestamps(created_us),
        "updated_at": arrays.timestamps(updated_us),
        "acquisition_channel": arrays.pick(ACQUISITION_CHANNELS, c.acquisition.astype(np.int64)),
        "home_store_id": arrays.pick(STORES, np.maximum(c.home_store, 0), mask=c.home_store < 0),
        "city": arrays.pick([p[0] for p in places], c.city),
        "region": arrays.pick([p[1] for p in places], c.city),
        "country": arrays.pick([p[2] for p in places], c.city),
        "consent_email": arrays.pick(CONSENTS, c.consent["email"].astype(np.int64)),
        "consent_sms": arrays.pick(CONSENTS, c.consent["sms"].astype(np.int64)),
        "consent_whatsapp": arrays.pick(CONSENTS, c.consent["whatsapp"].astype(np.int64)),
        "tags": arrays.string_lists(flags, TAGS),
        "attributes": attributes,
    }
    return arrays.table(Customer, columns, c.n)
