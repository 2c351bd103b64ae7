"""What reading every destination's opt-outs before a push costs (consent first).

Copies a demo store, gives every customer with an e-mail an e-mail marketing opt-in when
the ledger is empty (the demo stores hold no consent: the read's cost is the ledger's), puts
K opt-outs of its customers at a fake Mailchimp (unsubscribed
members) and a fake SendGrid (global unsubscribes), then reads both as `clientela consent
--pull` does: once with K new opt-outs at each, once with nothing new. Prints, per
destination, the events learned, the read calls, wall and CPU seconds.

Run: python benchmarks/read_first.py [--store /tmp/clientela-bench/demo-1000000-100000.duckdb]
     [--opt-outs 500] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes live with the tests

DEFAULT_STORE = Path("/tmp/clientela-bench/demo-1000000-100000.duckdb")


def count_events(store: Any) -> int:
    row = store.con.execute("SELECT count(*) FROM consent_events").fetchone()
    return int(row[0]) if row else 0


def opt_everyone_in(store: Any) -> None:
    from datetime import datetime

    from clientela.consent import ConsentEvent, record

    when = datetime(2024, 1, 1)
    record(store, [ConsentEvent(customer_id=str(cid), channel="email", purpose="marketing",
                                status="opted_in", address=str(email), occurred_at=when,
                                source="import", evidence="benchmark")
                   for cid, email in store.con.execute(
                       "SELECT DISTINCT customer_id, lower(email) FROM customers "
                       "WHERE email IS NOT NULL AND email <> ''").fetchall()])


def main() -> None:
    from clientela_mailchimp import MailchimpConfig, MailchimpDestination
    from clientela_sendgrid import SendGridConfig, SendGridDestination
    from destinations.fakes.mailchimp import FakeMailchimp
    from destinations.fakes.sendgrid import FakeSendGrid

    from clientela.destinations.read_first import read_all
    from clientela.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--opt-outs", type=int, default=500)
    parser.add_argument("--memory-limit", default="2GB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.duckdb"
        shutil.copy(args.store, path)
        with Store(path, memory_limit=args.memory_limit) as store:
            if not count_events(store):
                opt_everyone_in(store)
            emails = [str(row[0]) for row in store.con.execute(
                "SELECT DISTINCT lower(email) FROM customers WHERE email IS NOT NULL "
                "ORDER BY 1 LIMIT ?", [2 * args.opt_outs]).fetchall()]
            events = count_events(store)
        print(f"store: {args.store.name}, {events:,} consent events; "
              f"{args.opt_outs} opt-outs at each destination")
        with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
            for address in emails[:args.opt_outs]:
                mailchimp.add_member(address, "unsubscribed")
            sendgrid.global_unsubscribes.update(emails[args.opt_outs:])
            openers = {
                "mailchimp": lambda: MailchimpDestination(MailchimpConfig(
                    api_key="0123456789abcdef0123456789abcdef-us21", list_id=mailchimp.list_id,
                    base_url=mailchimp.url), sleep=lambda s: None),
                "sendgrid": lambda: SendGridDestination(SendGridConfig(
                    api_key=sendgrid.api_key, base_url=sendgrid.url), sleep=lambda s: None)}
            fakes = {"mailchimp": mailchimp, "sendgrid": sendgrid}
            for label in ("new opt-outs", "nothing new"):
                with Store(path, memory_limit=args.memory_limit) as store:
                    for name, opener in openers.items():
                        before = len(fakes[name].log)
                        wall, cpu = time.perf_counter(), time.process_time()
                        [outcome] = read_all(store, {name: opener})
                        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                        print(f"{label:>13}  {name:<9} {outcome.status:<6} learned "
                              f"{outcome.learned:>5}  calls {len(fakes[name].log) - before:>3}  "
                              f"wall {wall:6.2f} s  cpu {cpu:6.2f} s")


if __name__ == "__main__":
    main()
