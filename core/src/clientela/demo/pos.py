"""The demo's second source: the shops' point-of-sale (POS) export, with CPFs.

A chain's tills keep their own customer register: a CPF asked at the till,
sometimes an e-mail or a phone, typed by a cashier. Some of those people
also buy online, where the e-commerce platform knows them under another id.
This module draws that register and its sales from the e-commerce demo (which
it leaves untouched), so that identity resolution has something true to find:

- *linked* people are e-commerce buyers who live near a shop; their POS
  record (`pos-000123`) carries a valid CPF and their e-mail written another
  way (capitals, spaces) and/or their phone in another format
  (`(11) 98765-4321`, `11 98765 4321`, or the old eight digits without the
  ninth). Each linked record shares at least one of e-mail or phone;
- *POS-only* people exist only at the till, some with nothing but a CPF;
- a few people were registered twice at the till: two POS records with the
  same CPF written two ways (`123.456.789-09`, `12345678909`);
- a few POS-only people carry a *mistyped* CPF (a wrong check digit), two
  different people the same one: it is invalid, so it must never join them.

The generator knows who is who: `resolution_truth` (in `pos_truth`) says
which records are one person and what the person-level KPIs are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from clientela.demo import cpf as cpfs
from clientela.demo.build import DemoData, random_stream
from clientela.demo.calendar import SECONDS_PER_DAY, UTC_OFFSET_HOURS
from clientela.demo.vocabulary import FEMALE_NAMES, MALE_NAMES, STORES, SURNAMES, ascii_fold

LINKED_SHARE = 0.30
"""Of the e-commerce buyers near a shop (with an e-mail or a phone), those the till knows too."""
POS_ONLY_PER_LINKED = 0.6
"""POS-only people per linked person."""
CPF_ONLY_SHARE = 0.35
"""Of the POS-only people, those the till knows by CPF alone (no e-mail, no phone)."""
DUPLICATE_SHARE = 0.05
"""People registered twice at the till (same CPF, written two ways)."""
NO_CPF_SHARE = 0.05
"""Linked records whose cashier skipped the CPF (they still share an e-mail or a phone)."""
MISTYPED_PAIRS_PER = 200
"""One pair of POS-only people sharing a mistyped CPF per this many POS people (at least one)."""
CANCELLED_SHARE = 0.04
MEAN_EXTRA_ORDERS = 1.2
"""Orders per POS record: one, plus a Poisson number with this mean."""
OPENING_S, CLOSING_S = 10 * 3600, 21 * 3600

CUSTOMER_COLUMNS = {
    "customer_id": "codigo_cliente",
    "cpf": "cpf",
    "first_name": "nome",
    "last_name": "sobrenome",
    "email": "email",
    "phone": "telefone",
    "home_store_id": "loja",
    "created_at": "cadastro",
}
"""canonical field -> the export's column (the mapping a user passes to the files source)."""
ORDER_COLUMNS = {
    "order_id": "cupom",
    "customer_id": "codigo_cliente",
    "placed_at": "data_hora",
    "status": "status",
    "store_id": "loja",
    "channel": "canal",
    "currency": "moeda",
    "subtotal": "valor_bruto",
    "discount": "desconto",
    "total": "valor_total",
}
AREA_CODES = ("11", "21", "31")
"""The phone area code of each shop in STORES (Sao Paulo, Rio, Belo Horizonte)."""
PERSON_KINDS = ("linked", "pos_only", "cpf_only", "mistyped_cpf")


@dataclass(frozen=True)
class PosExport:
    """The till's register and sales as the export writes them, and who each record is.

    `customers` and `orders` hold the export's own column names (`CUSTOMER_COLUMNS`,
    `ORDER_COLUMNS`); `records` says, per POS record, the person (`person_id`: the
    e-commerce customer_id for a linked person, else the person's first POS record id),
    the kind of person and the clean contacts the record was written from.
    """

    customers: pd.DataFrame
    orders: pd.DataFrame
    records: pd.DataFrame


ECOMMERCE_COLUMNS = ("customer_id", "email", "phone", "home_store_id", "country", "first_name",
                     "last_name")
"""What the POS draw reads of the e-commerce customers (from the tables or from the store)."""


def draw_pos(data: DemoData) -> PosExport:
    """The POS export drawn alongside an e-commerce demo (same seed: same export)."""
    ecommerce = data["customers"].select(list(ECOMMERCE_COLUMNS)).to_pandas()
    buyers = set(data.truth.per_customer.column("customer_id").to_pylist())
    ecommerce["buyer"] = ecommerce.customer_id.isin(buyers)
    return draw_pos_for(ecommerce, data.truth.seed, data.truth.start, data.truth.end)


def draw_pos_for(ecommerce: pd.DataFrame, seed: int, start: date, end: date) -> PosExport:
    """The POS export for these e-commerce customers (ECOMMERCE_COLUMNS and `buyer`, in key
    order) over the window [start, end]: `draw_pos` without the tables in memory."""
    rng = random_stream(seed, "pos")
    near = ecommerce[ecommerce.buyer.to_numpy(dtype=bool) & ecommerce.home_store_id.notna()
                     & (ecommerce.country == "BR")
                     & (ecommerce.email.notna() | ecommerce.phone.notna())]
    n_linked = round(LINKED_SHARE * len(near))
    linked = near.iloc[np.sort(rng.choice(len(near), n_linked, replace=False))]
    n_only = max(round(POS_ONLY_PER_LINKED * n_linked), 4)
    people = _people(rng, linked, n_only)
    records = _records(rng, people)
    customers, orders = _export(rng, records, start, end)
    return PosExport(customers=customers, orders=orders, records=records)


def _people(rng: np.random.Generator, linked: pd.DataFrame, n_only: int) -> pd.DataFrame:
    """One row per POS person: kind, the e-commerce id if linked, CPF, clean contacts."""
    n_linked = len(linked)
    n = n_linked + n_only
    kind = np.array(["linked"] * n_linked + ["pos_only"] * n_only, dtype=object)
    only = np.arange(n_linked, n)
    cpf_only = only[rng.random(n_only) < CPF_ONLY_SHARE]
    kind[cpf_only] = "cpf_only"
    pairs = max(1, n // MISTYPED_PAIRS_PER)
    if len(cpf_only) < 2 * pairs:  # tiny stores: make room for one pair
        cpf_only = only[: 2 * pairs]
        kind[cpf_only] = "cpf_only"
    mistyped = cpf_only[: 2 * pairs]
    kind[mistyped] = "mistyped_cpf"
    valid = cpfs.draw_valid(rng, n)
    cpf = np.array(valid, dtype=object)
    for k in range(pairs):  # two people, one mistyped CPF: a typo of a third person's number
        cpf[mistyped[2 * k]] = cpf[mistyped[2 * k + 1]] = cpfs.mistyped(valid[k])

    female = rng.random(n_only) < 0.6
    first = np.where(female, np.array(FEMALE_NAMES, dtype=object)[
        rng.integers(0, len(FEMALE_NAMES), n_only)], np.array(MALE_NAMES, dtype=object)[
        rng.integers(0, len(MALE_NAMES), n_only)])
    last = np.array(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n_only)]
    number = np.arange(1, n_only + 1)
    # e-mails unique by construction ("pdv" and the number in the local part); phones are
    # the shop's landline records (eight digits from 3, numbered), where every e-commerce
    # phone is a nine-digit mobile: no two people share a contact by chance
    only_email = [f"{ascii_fold(f)}.{ascii_fold(s).replace(' ', '')}.pdv{k}@example.com"
                  for f, s, k in zip(first, last, number, strict=True)]
    store = rng.integers(0, len(STORES), n_only)
    only_phone = [f"+55{AREA_CODES[s]}3{k:07d}" for s, k in zip(store, number, strict=True)]
    has_contact = kind[only] == "pos_only"
    return pd.DataFrame({
        "kind": kind,
        "ecommerce_id": [*linked.customer_id, *([None] * n_only)],
        "cpf": cpf,
        "first_name": [*linked.first_name, *first],
        "last_name": [*linked.last_name, *last],
        "email": [*linked.email, *_some(only_email, has_contact & (rng.random(n_only) < 0.8))],
        "phone": [*linked.phone, *_some(only_phone, has_contact & (rng.random(n_only) < 0.9))],
        "store": [*linked.home_store_id,
                  *np.array(STORES, dtype=object)[store]],
    })


def _some(values: list[str], kept: np.ndarray) -> list[str | None]:
    return [value if keep else None for value, keep in zip(values, kept, strict=True)]


def _records(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    """People to till records: a few twice, ids in a shuffled order, contacts as typed."""
    n = len(people)
    twice = np.flatnonzero((people.kind.isin(["linked", "pos_only", "cpf_only"])).to_numpy()
                           & (rng.random(n) < DUPLICATE_SHARE))
    person = np.concatenate([np.arange(n), twice])
    second = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(twice), dtype=bool)])
    order = rng.permutation(len(person))
    person, second = person[order], second[order]
    m = len(person)
    ids = np.array([f"pos-{k:06d}" for k in range(1, m + 1)], dtype=object)
    rows = people.iloc[person].reset_index(drop=True)
    linked = (rows.kind == "linked").to_numpy()

    # which contacts the till typed: a linked record keeps at least one shared contact
    keep_email = rows.email.notna().to_numpy() & (rng.random(m) < 0.7)
    keep_phone = rows.phone.notna().to_numpy() & (rng.random(m) < 0.7)
    neither = linked & ~keep_email & ~keep_phone
    keep_email |= neither & rows.email.notna().to_numpy()
    keep_phone |= neither & ~keep_email
    own = ~linked  # a POS-only person's contacts are the till's own: all kept
    keep_email |= own & rows.email.notna().to_numpy()
    keep_phone |= own & rows.phone.notna().to_numpy()
    # the twice-registered: the second record written from scratch, CPF in the other style
    style = rng.integers(0, 2, m)
    first_style = dict(zip(person[~second], style[~second], strict=True))
    style = np.where(second, [1 - first_style[p] for p in person], style)
    no_cpf = linked & ~second & (rng.random(m) < NO_CPF_SHARE) & ~np.isin(person, person[second])
    cpf_written = [None if skip else cpfs.written(c, int(s))
                   for c, s, skip in zip(rows.cpf, style, no_cpf, strict=True)]
    email_style = rng.integers(0, 4, m)
    phone_style = rng.integers(0, 4, m)
    email = [_typed_email(e, int(s)) if keep else None
             for e, s, keep in zip(rows.email, email_style, keep_email, strict=True)]
    phone = [_typed_phone(p, int(s)) if keep else None
             for p, s, keep in zip(rows.phone, phone_style, keep_phone, strict=True)]

    first_record: dict[int, str] = {}
    for record, p in zip(ids, person, strict=True):  # ids ascend: the first seen is the least
        first_record.setdefault(int(p), str(record))
    person_id = [e if k == "linked" else first_record[int(p)]
                 for e, k, p in zip(rows.ecommerce_id, rows.kind, person, strict=True)]
    return pd.DataFrame({
        "customer_id": ids,
        "person_id": person_id,
        "kind": rows.kind,
        "ecommerce_id": rows.ecommerce_id,
        "cpf": rows.cpf,
        "cpf_written": cpf_written,
        "email": np.where(keep_email, rows.email, None),
        "email_written": email,
        "phone": np.where(keep_phone, rows.phone, None),
        "phone_written": phone,
        "first_name": rows.first_name,
        "last_name": rows.last_name,
        "store": rows.store,
    })


def _typed_email(email: str, style: int) -> str:
    """As a cashier types it: capitals, a stray space; the same address once trimmed and
    case-folded."""
    local, _, domain = email.partition("@")
    return (email.upper(), f" {email} ", f"{local.capitalize()}@{domain.upper()}",
            f"{email.title()} ")[style]


def _typed_phone(phone: str, style: int) -> str:
    """A Brazilian mobile (+55 AA 9XXXXXXXX) as a till writes it; style 3 drops the ninth
    digit where the old eight-digit number was a mobile (it began 6-9), else keeps it."""
    if not phone.startswith("+55") or len(phone) not in (13, 14):
        return phone
    area, number = phone[3:5], phone[5:]
    if len(number) == 8:  # a landline
        return (f"({area}) {number[:4]}-{number[4:]}", f"{area} {number}", f"0{area}{number}",
                phone)[style]
    if style == 0:
        return f"({area}) {number[:5]}-{number[5:]}"
    if style == 1:
        return f"{area} {number[:5]} {number[5:]}"
    if style == 2:
        return f"0{area}{number}"
    if number[1] in "6789":
        return f"({area}) {number[1:5]}-{number[5:]}"
    return f"+55 {area} {number}"


def _export(rng: np.random.Generator, records: pd.DataFrame, start: date, end: date
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export's two files as frames, with the export's column names."""
    n_days = (end - start).days + 1
    m = len(records)
    per_record = 1 + rng.poisson(MEAN_EXTRA_ORDERS, m)
    owner = np.repeat(np.arange(m), per_record)
    n = len(owner)
    day = rng.integers(0, n_days, n)
    local_s = day * SECONDS_PER_DAY + rng.integers(OPENING_S, CLOSING_S, n)
    order = np.lexsort((owner, local_s))
    owner, local_s = owner[order], local_s[order]
    subtotal = np.round(rng.lognormal(np.log(160.0), 0.6, n), 2)
    discount = np.where(rng.random(n) < 0.15, np.round(subtotal * 0.1, 2), 0.0)
    cancelled = rng.random(n) < CANCELLED_SHARE
    zone = timezone(timedelta(hours=UTC_OFFSET_HOURS))
    origin = datetime(start.year, start.month, start.day, tzinfo=zone)
    placed = [(origin + timedelta(seconds=int(s))).isoformat() for s in local_s]
    first_s = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(first_s, owner, local_s)
    registered = [(origin + timedelta(seconds=int(s) - 600)).isoformat() for s in first_s]
    names = ORDER_COLUMNS
    orders = pd.DataFrame({
        names["order_id"]: [f"pdv-{k:07d}" for k in range(1, n + 1)],
        names["customer_id"]: records.customer_id.to_numpy()[owner],
        names["placed_at"]: placed,
        names["status"]: np.where(cancelled, "cancelled", "fulfilled"),
        names["store_id"]: records.store.to_numpy()[owner],
        names["channel"]: "store",
        names["currency"]: "BRL",
        names["subtotal"]: [f"{v:.2f}" for v in subtotal],
        names["discount"]: [f"{v:.2f}" for v in discount],
        names["total"]: [f"{v:.2f}" for v in subtotal - discount],
    })
    columns = CUSTOMER_COLUMNS
    customers = pd.DataFrame({
        columns["customer_id"]: records.customer_id,
        columns["cpf"]: records.cpf_written,
        columns["first_name"]: records.first_name,
        columns["last_name"]: records.last_name,
        columns["email"]: records.email_written,
        columns["phone"]: records.phone_written,
        columns["home_store_id"]: records.store,
        columns["created_at"]: registered,
    })
    return customers, orders
