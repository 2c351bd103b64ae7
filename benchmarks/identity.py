"""Identity resolution at scale: clientela.identity vs a straightforward pandas version.

    python benchmarks/identity.py                       # 1M customer records, 3 sources
    python benchmarks/identity.py --records 200000      # smaller

Generates customer records of one set of people seen by three sources (an online shop, a
point of sale with CPFs, an app), 30% of the people in two or three of them, written the
way each source writes (CPF with or without punctuation, e-mails in any case, phones with
and without the ninth digit or the +55), with a few family phones and mistyped CPFs. Then:

1. resolves all of them with `clientela.identity` (keys, graph, links, conflicts), and the
   same rules in pandas written inside this file; checks both give the same persons;
2. lands one day's new records (1/365 of the base) through the store's write path, which
   resolves them incrementally, against pandas resolving everything again.

Prints wall time, CPU time (all threads: what the step costs on a busy machine), peak RSS
and the one-minute load average during each step, and the ratios. Targets: the full resolution
in <= 10 s and <= 2 GB, the day in <= 1 s. Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpi_rfm import PeakRss

from clientela.config import IdentityConfig
from clientela.identity import resolve as identity
from clientela.model.entities import Customer
from clientela.store import Store
from clientela.store.upsert import conform

SHARED_LIMIT = 3


# -- data --------------------------------------------------------------------------------

def _cpf_digits(base: np.ndarray) -> np.ndarray:
    """The 11-digit CPFs of 9-digit bases (check digits by the textbook algorithm)."""
    digits = np.stack([(base // 10 ** (8 - i)) % 10 for i in range(9)], axis=1)
    for weights in (np.arange(10, 1, -1), np.arange(11, 1, -1)):
        remainder = (digits * weights).sum(axis=1) % 11
        digits = np.column_stack([digits, np.where(remainder < 2, 0, 11 - remainder)])
    return digits


def _join(digits: np.ndarray) -> pd.Series:
    return pd.Series(["".join(map(str, row)) for row in digits.tolist()])


def generate(records: int, seed: int = 7, *, prefix: str = "") -> tuple[pa.Table, np.ndarray]:
    """Customer records (customer_id, source, email, phone, cpf) and each one's true person."""
    rng = np.random.default_rng(seed)
    people = records  # enough: each takes 1 to 3 records, the list is cut at `records`
    sources = np.where(rng.random(people) < 0.7, 1, np.where(rng.random(people) < 2 / 3, 2, 3))
    person = np.repeat(np.arange(people), sources)[:records]
    slot = np.arange(len(person)) - np.repeat(np.cumsum(sources) - sources, sources)[:records]
    first = rng.choice(3, size=people, p=[0.5, 0.35, 0.15])
    source_of = (first[person] + slot) % 3
    names = np.array(["web", "pos", "app"])
    cpf = _join(_cpf_digits(rng.integers(1_000_000, 999_999_999, size=people)))
    area = rng.choice([a for a in range(11, 100) if a % 10], size=people)
    subscriber = rng.integers(60_000_000, 99_999_999, size=people)
    family = rng.random(people) < 0.005  # four people sharing one phone
    subscriber[family] = subscriber[np.flatnonzero(family) // 4 * 4 % people]
    mistyped = rng.random(records) < 0.02
    p = pd.Series(person)
    pos, app = (source_of == 1), (source_of == 2)
    email = prefix + "user" + p.astype(str) + "@mail" + (p % 50).astype(str) + ".com"
    email = email.where(~app, email.str.upper()).where(~pos | (rng.random(records) < 0.3), None)
    a, s = pd.Series(area[person]).astype(str), pd.Series(subscriber[person]).astype(str)
    phone = ("(" + a + ") 9" + s.str[:4] + "-" + s.str[4:]).where(~pos, a + " " + s.str[:4]
                                                                  + "-" + s.str[4:])
    phone = phone.where(~app, "+55" + a + "9" + s)
    raw_cpf = cpf.iloc[person].reset_index(drop=True)
    dotted = raw_cpf.str[:3] + "." + raw_cpf.str[3:6] + "." + raw_cpf.str[6:9] + "-" + \
        raw_cpf.str[9:]
    raw_cpf = raw_cpf.where(pos, dotted).where(pos | (rng.random(records) < 0.4), None)
    raw_cpf = raw_cpf.where(~mistyped, raw_cpf.str[:-1] + "0")
    ids = prefix + pd.Series(names[source_of]).str[0] + pd.Series(np.arange(records)).astype(str)
    unknown = pa.array(["unknown"] * records)
    table = pa.table({"source": names[source_of], "customer_id": ids, "email": email,
                      "phone": phone, "cpf": raw_cpf, "consent_email": unknown,
                      "consent_sms": unknown, "consent_whatsapp": unknown,
                      "tags": pa.array([[]] * records, pa.list_(pa.string()))})
    return conform(Customer, table), person


# -- the same rules in pandas ----------------------------------------------------------------

def pandas_keys(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """(customer_id, key) per rule, normalised as clientela.identity does for Brazil."""
    cpf = frame.cpf.str.strip().str.replace(r"[\s./-]", "", regex=True)
    cpf = cpf.where(cpf.str.fullmatch(r"[0-9]{10,11}", na=False)).str.zfill(11)
    ok = cpf.notna()
    digits = np.array([list(map(int, c)) for c in cpf[ok]]).reshape(-1, 11)
    d1 = (digits[:, :9] * np.arange(10, 1, -1)).sum(1) * 10 % 11 % 10
    d2 = (digits[:, :10] * np.arange(11, 1, -1)).sum(1) * 10 % 11 % 10
    valid = (d1 == digits[:, 9]) & (d2 == digits[:, 10]) & (digits != digits[:, :1]).any(1)
    cpf.loc[ok] = cpf[ok].where(valid)
    email = frame.email.str.strip().str.lower()
    email = email.where(email.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", na=False))
    text = frame.phone.str.strip()
    d = text.str.replace(r"[^0-9]", "", regex=True)
    n = d.where(~d.str.startswith("0", na=False),
                np.where(d.str.len().isin([13, 14]), d.str[3:], d.str[1:]))
    national = np.select([n.str.len().isin([12, 13]) & n.str.startswith("55", na=False),
                          n.str.len().isin([10, 11])], [n, "55" + n], None)
    full = np.where(text.str.startswith("+", na=False), d,
                    np.where(d.str.startswith("00", na=False), d.str[2:], national))
    full = pd.Series(full, index=frame.index).where(~text.str.contains("[A-Za-z]", na=False))
    br = full.str[2:]
    phone = pd.Series(np.select(
        [full.str.startswith("55", na=False) & br.str.fullmatch(r"[1-9]{2}[2-5][0-9]{7}", na=False),
         full.str.startswith("55", na=False) & br.str.fullmatch(r"[1-9]{2}[6-9][0-9]{7}", na=False),
         full.str.startswith("55", na=False) & br.str.fullmatch(r"[1-9]{2}9[0-9]{8}", na=False),
         ~full.str.startswith("55", na=True) & full.str.len().between(8, 15)],
        ["+" + full, "+55" + br.str[:2] + "9" + br.str[2:], "+" + full, "+" + full], None),
        index=frame.index)
    return {rule: pd.DataFrame({"customer_id": frame.customer_id, "key": values}).dropna()
            for rule, values in (("cpf", cpf), ("email", email), ("phone", phone))}


def pandas_resolve(frame: pd.DataFrame) -> pd.Series:
    """Persons (the smallest customer_id of each) by label propagation, rule by rule, with
    the shared-key limit and the different-CPFs conflict kept apart."""
    keys = pandas_keys(frame)
    ids = pd.Index(np.sort(frame.customer_id.unique()))
    label = np.arange(len(ids))
    cpf = keys["cpf"].assign(node=lambda k: ids.get_indexer(k.customer_id))
    for rule in ("cpf", "email", "phone"):
        k = keys[rule].assign(node=lambda k: ids.get_indexer(k.customer_id))
        k["comp"] = label[k.node.to_numpy()]
        k = k.drop_duplicates(["key", "comp"])
        persons = k.groupby("key").comp.transform("size")
        k = k[(persons > 1) & ((persons <= SHARED_LIMIT) | (rule == "cpf"))]
        group = np.arange(len(ids))
        while True:  # each key takes its smallest group, each component its smallest key's
            low = k.assign(g=group[k.comp.to_numpy()]).groupby("key").g.transform("min")
            new = group.copy()
            np.minimum.at(new, k.comp.to_numpy(), low.to_numpy())
            while not (new[new] == new).all():
                new = new[new]
            if (new == group).all():
                break
            group = new
        carried = cpf.assign(g=group[label[cpf.node.to_numpy()]]).groupby("g").key.nunique()
        apart = np.isin(group, carried[carried > 1].index.to_numpy())
        group = np.where(apart, np.arange(len(ids)), group)
        label = group[label]
    return pd.Series(ids[label], index=ids)


# -- running -------------------------------------------------------------------------------

def timed(label: str, run: Callable[[], Any]) -> tuple[Any, float, int]:
    with PeakRss() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        result = run()
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
    load = os.getloadavg()[0]  # the machine may be shared: CPU time is the steadier figure
    print(f"{label:<48} {took:8.2f} s   CPU {cpu:7.2f} s   peak RSS {rss.peak / 2**30:5.2f} GiB"
          f"   load {load:4.1f}")
    return result, took, rss.peak


def persons_of(store: Store) -> pd.Series:
    frame = store.con.execute("""SELECT c.customer_id, COALESCE(l.person_id, c.customer_id) AS p
        FROM (SELECT DISTINCT customer_id FROM customers) c
        LEFT JOIN identity_links l USING (customer_id) ORDER BY 1""").df()
    return pd.Series(frame.p.to_numpy(), index=frame.customer_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="2GB", help="the store's memory_limit (the process's cap)")
    args = parser.parse_args(argv)
    base, truth = generate(args.records)
    day, _ = generate(max(args.records // 365, 10), seed=8, prefix="d")
    # a tenth of the day's records are people already known (same e-mail, new ids)
    known = base.slice(0, day.num_rows // 10)
    day = pa.concat_tables([day.slice(day.num_rows // 10), known.set_column(
        1, known.schema.field(1), pa.array(["n" + c for c in known.column("customer_id").to_pylist()]))])
    print(f"{base.num_rows:,} customer records of {len(np.unique(truth)):,} people "
          f"({np.mean(np.bincount(truth) > 1):.0%} of them in two or three sources); "
          f"a day adds {day.num_rows:,}")
    config = IdentityConfig(shared_key_limit=SHARED_LIMIT)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "identity.duckdb", memory_limit=args.memory_limit)
        with store.transaction() as con:
            identity.bind_config(con, config.model_copy(update={"enabled": False}))
        store.insert_new(Customer, base)
        result, full, full_rss = timed(
            "clientela.identity: resolve all", lambda: _bind(store, config))
        print(f"  {result.records:,} records -> {result.persons:,} persons, "
              f"{result.conflicts:,} conflicts")
        ours = persons_of(store)
        frame = base.to_pandas()
        theirs, pandas_full, pandas_rss = timed("pandas: resolve all",
                                                lambda: pandas_resolve(frame))
        same = (theirs.reindex(ours.index) == ours).all()
        print(f"  same persons as pandas: {same}  ({theirs.nunique():,} persons)")
        print(f"ratio pandas / clientela (resolve all): {pandas_full / full:.1f}x time, "
              f"{pandas_rss / full_rss:.1f}x peak RSS")
        spent: list[float] = []
        spent_cpu: list[float] = []
        link_batch = identity.link_batch

        def timed_link(con: Any, table: pa.Table) -> Any:
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return link_batch(con, table)
            finally:
                spent.append(time.perf_counter() - start)
                spent_cpu.append(time.process_time() - cpu)

        identity.link_batch = timed_link  # type: ignore[assignment]
        _, landed, _ = timed("clientela: land one day (write path + identity)",
                             lambda: store.write_batch(Customer, day, source="day"))
        identity.link_batch = link_batch  # type: ignore[assignment]
        incremental = sum(spent)
        print(f"  of which identity (incremental resolution): {incremental:.2f} s, "
              f"CPU {sum(spent_cpu):.2f} s "
              f"(the rest, {landed - incremental:.2f} s, is the upsert and the consent ledger)")
        both = pd.concat([frame, day.to_pandas()])
        _, pandas_day, _ = timed("pandas: resolve everything again",
                                 lambda: pandas_resolve(both))
        print(f"ratio pandas / clientela (one day): {pandas_day / incremental:.1f}x against "
              f"the identity share, {pandas_day / landed:.1f}x against the whole landing")
        again = persons_of(store)

        def again_all() -> None:
            with store.transaction() as con:
                identity.resolve_all(con, config)

        timed("clientela: resolve all again (links in place)", again_all)
        print(f"  incremental equals a full resolution: {(persons_of(store) == again).all()}")
        store.close()


def _bind(store: Store, config: IdentityConfig) -> identity.Resolution:
    """Switching resolution on resolves every record (keys, graph, links, conflicts)."""
    with store.transaction() as con:
        result = identity.bind_config(con, config)
    assert result is not None
    return result


if __name__ == "__main__":
    main()
