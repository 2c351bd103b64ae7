"""Push 100k contacts in the 11 RFM segments to each destination's fake, then 1% changed.

Read calls are counted too (GETs, searches, batch reads): a push now reads the
destination's opt-outs first and looks up the status of the contacts it writes.

Run: python benchmarks/push.py [--contacts 100000] [--only mailchimp]

For each destination it prints the write calls against the floor (the fewest
calls each API's batch limits allow), the one-off setup calls (custom fields,
tags), wall time and peak memory, for a first push and for a push after 1%
of the contacts changed (loyalty points: a field change that moves no RFM
rank, so exactly 1% differ). Targets: the floor exactly, and the 1% push at
1% of the calls.

To add a destination, append a `Bench` to BENCHES: how to start its fake,
open the destination on it, count its write calls (split into contact calls
and setup calls) and compute its floor from the segment sizes.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes live with the tests

AS_OF = datetime(2024, 7, 1)


@dataclass(frozen=True)
class Bench:
    name: str
    start_fake: Callable[[], Any]
    """-> a started fake server (stopped with .stop())."""
    open: Callable[[Any], Any]
    """fake -> an opened Destination pointed at it."""
    contact_calls: Callable[[Any], int]
    """fake -> write calls that carried contacts (upserts, memberships) since the last reset."""
    setup_calls: Callable[[Any], int]
    """fake -> write calls that created fields, tags or lists."""
    floor: Callable[[int, dict[str, int], dict[str, int]], int]
    """(changed contacts, adds per segment, removes per segment) -> the minimum write calls."""
    reset: Callable[[Any], None]


def _mailchimp() -> Bench:
    from clientela_mailchimp import MailchimpConfig, MailchimpDestination
    from destinations.fakes.mailchimp import FakeMailchimp

    def opened(fake: FakeMailchimp) -> Any:
        config = MailchimpConfig(api_key="0123456789abcdef-us21", list_id=fake.list_id,
                                 base_url=fake.url)
        return MailchimpDestination(config)

    def floor(n: int, adds: dict[str, int], removes: dict[str, int]) -> int:
        segments = set(adds) | set(removes)
        return math.ceil(n / 500) + sum(
            math.ceil(max(adds.get(s, 0), removes.get(s, 0)) / 500) for s in segments)

    return Bench(
        name="mailchimp",
        start_fake=lambda: FakeMailchimp().start(),
        open=opened,
        contact_calls=lambda fake: len(fake.upsert_calls()) + len(fake.tag_calls()),
        setup_calls=lambda fake: fake.write_count() - len(fake.upsert_calls())
        - len(fake.tag_calls()),
        floor=floor,
        reset=lambda fake: fake.reset_calls(),
    )


BENCHES: dict[str, Callable[[], Bench]] = {"mailchimp": _mailchimp}


def _sendgrid() -> Bench:
    from clientela_sendgrid import SendGridConfig, SendGridDestination
    from clientela_sendgrid import floor as sendgrid_floor
    from destinations.fakes.sendgrid import FakeSendGrid

    def opened(fake: FakeSendGrid) -> Any:
        config = SendGridConfig(api_key=fake.api_key, base_url=fake.url, poll_interval=0.05)
        return SendGridDestination(config)

    def floor(n: int, adds: dict[str, int], removes: dict[str, int]) -> int:
        # joiners grouped per list, stayers in list-less requests, 100 ids per list removal
        return sendgrid_floor(adds, n - sum(adds.values()), removes)

    return Bench(
        name="sendgrid",
        start_fake=lambda: FakeSendGrid().start(),
        open=opened,
        contact_calls=lambda fake: len(fake.upsert_calls()) + len(fake.list_removals()),
        setup_calls=lambda fake: len(fake.setup_calls()),
        floor=floor,
        reset=lambda fake: fake.reset_calls(),
    )


def _hubspot() -> Bench:
    from clientela_hubspot import HubSpotConfig, HubSpotDestination
    from destinations.fakes.hubspot import FakeHubSpot

    def opened(fake: FakeHubSpot) -> Any:
        return HubSpotDestination(HubSpotConfig(access_token=fake.token, base_url=fake.url))

    return Bench(
        name="hubspot",
        start_fake=lambda: FakeHubSpot().start(),
        open=opened,
        contact_calls=lambda fake: len(fake.upsert_calls()),
        setup_calls=lambda fake: fake.write_count() - len(fake.upsert_calls()),
        floor=lambda n, adds, removes: math.ceil(n / 100),
        reset=lambda fake: fake.reset_calls(),
    )


BENCHES["sendgrid"] = _sendgrid
BENCHES["hubspot"] = _hubspot


def build_store(path: Path, contacts: int) -> None:
    """`contacts` customers, all with e-mail consent and 1-5 orders over two years (SQL, fast)."""
    from clientela.store import Store

    with Store(path) as store:
        con = store.con
        con.execute(f"""
            INSERT INTO customers BY NAME
            SELECT 'bench' AS source, printf('c%07d', i) AS customer_id,
                   printf('cliente%07d@example.com', i) AS email,
                   'subscribed' AS consent_email, 'unknown' AS consent_sms,
                   'unknown' AS consent_whatsapp, md5(i::VARCHAR) AS _hash,
                   TIMESTAMP '2024-07-01' AS _loaded_at
            FROM range({contacts}) t(i)""")
        con.execute(f"""
            INSERT INTO orders BY NAME
            SELECT 'bench' AS source, printf('o%07d-%d', i, k) AS order_id,
                   printf('c%07d', i) AS customer_id, 'paid' AS status,
                   TIMESTAMP '2024-07-01' - to_days(CAST((i * 37 + k * 53) % 700 + 1 AS INTEGER))
                       - to_hours(CAST(i % 24 AS INTEGER)) AS placed_at,
                   '' AS currency,
                   CAST(20 + (i * 13 + k * 29) % 480 + 0.9 AS DECIMAL(18, 2)) AS subtotal,
                   0 AS discount, 0 AS shipping, 0 AS tax,
                   CAST(20 + (i * 13 + k * 29) % 480 + 0.9 AS DECIMAL(18, 2)) AS total,
                   0 AS refunded_amount, 'web' AS channel, 0 AS loyalty_points_earned,
                   0 AS loyalty_points_redeemed, 0 AS loyalty_discount,
                   md5(i::VARCHAR || k) AS _hash, TIMESTAMP '2024-07-01' AS _loaded_at
            FROM range({contacts}) t(i), range(5) s(k) WHERE k <= (i * 7) % 5""")
        # rows landed by SQL skip the store's consent hook: record their opt-ins as it would
        from clientela.consent.columns import events_from_rows_sql

        con.execute(events_from_rows_sql("customers", fallback_time="_loaded_at"))


def change_one_percent(path: Path, contacts: int) -> int:
    from clientela.store import Store

    with Store(path) as store:
        store.con.execute(f"""
            INSERT INTO loyalty_events BY NAME
            SELECT 'bench' AS source, printf('l%07d', i) AS event_id,
                   printf('c%07d', i) AS customer_id, 'earn' AS kind, 250 AS points,
                   TIMESTAMP '2024-06-29' AS occurred_at, md5(i::VARCHAR) AS _hash,
                   TIMESTAMP '2024-07-01' AS _loaded_at
            FROM range(0, {contacts}, 100) t(i)""")
    return len(range(0, contacts, 100))


def segment_moves(path: Path, run_id: str) -> tuple[dict[str, int], dict[str, int]]:
    from clientela.store import Store

    with Store(path) as store:
        rows = store.con.execute("""SELECT segment, previous_segment FROM push_log WHERE run_id = ?
                                    AND outcome IN ('created', 'updated', 'removed')""",
                                 [run_id]).fetchall()
    adds: dict[str, int] = {}
    removes: dict[str, int] = {}
    for segment, previous in rows:
        if segment == previous:
            continue
        if segment is not None:
            adds[segment] = adds.get(segment, 0) + 1
        if previous is not None:
            removes[previous] = removes.get(previous, 0) + 1
    return adds, removes


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_push(bench: Bench, fake: Any, path: Path) -> dict[str, Any]:
    from clientela.destinations.contacts import Segmentation
    from clientela.destinations.push import push
    from clientela.store import Store

    bench.reset(fake)
    destination = bench.open(fake)
    started = time.perf_counter()
    try:
        with Store(path) as store:
            report = push(store, bench.name, destination, Segmentation.rfm(), as_of=AS_OF)
    finally:
        destination.close()
    wall = time.perf_counter() - started
    sent = sum(report.outcomes[k] for k in ("created", "updated", "removed"))
    adds, removes = segment_moves(path, report.run_id) if report.run_id else ({}, {})
    reads = sum(1 for call in fake.log if call.method == "GET" or "search" in call.path
                or call.path.endswith("/batch/read"))
    return {"contacts": sent, "failed": report.failed, "calls": bench.contact_calls(fake),
            "reads": reads,
            "setup": bench.setup_calls(fake), "floor": bench.floor(sent, adds, removes),
            "wall": wall, "peak_mb": peak_mb(), "segments": len(adds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clientela-push-bench-"))
    try:
        template = work / "template.duckdb"
        started = time.perf_counter()
        build_store(template, args.contacts)
        print(f"store: {args.contacts:,} contacts built in {time.perf_counter() - started:.1f} s")
        header = (f"{'destination':<12}{'push':<10}{'contacts':>10}{'write calls':>13}"
                  f"{'floor':>8}{'setup':>7}{'reads':>7}{'failed':>8}{'wall s':>9}{'peak MB':>9}")
        print(header)
        for name in args.only or sorted(BENCHES):
            bench = BENCHES[name]()
            path = work / f"{name}.duckdb"
            shutil.copyfile(template, path)
            fake = bench.start_fake()
            try:
                first = one_push(bench, fake, path)
                change_one_percent(path, args.contacts)
                second = one_push(bench, fake, path)
            finally:
                fake.stop()
            for label, row in (("first", first), ("1% later", second)):
                print(f"{name:<12}{label:<10}{row['contacts']:>10,}{row['calls']:>13,}"
                      f"{row['floor']:>8,}{row['setup']:>7}{row['reads']:>7}{row['failed']:>8}"
                      f"{row['wall']:>9.1f}{row['peak_mb']:>9.0f}")
            share = second["calls"] / first["calls"] if first["calls"] else 0.0
            verdict = ("at the floor" if first["calls"] == first["floor"]
                       and second["calls"] == second["floor"] else "ABOVE THE FLOOR")
            print(f"{'':<12}1% push made {share:.2%} of the first push's calls; {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
