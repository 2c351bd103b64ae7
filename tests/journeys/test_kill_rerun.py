"""SIGKILL at every phase of a journey run and of a campaign, then one re-run: no message is
sent twice and none is lost, on a DuckDB store and on a PostgreSQL one."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from channels.fakes.twilio import FakeTwilio

from clientela.store import Store
from clientela.testing.pytest_plugin import clientela_store_toml

from .helpers import customer, order, write

KILLER = Path(__file__).with_name("killer.py")
N = 24
ORDERED = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
NOW = "2026-12-10T13:00"  # local: the post-sale messages (12:00) are due


def config(fake: FakeTwilio, target: str) -> str:
    return clientela_store_toml(target) + f"""
[workspace]
timezone = "America/Sao_Paulo"

[messaging]
send = {{ sms = "twilio_sms" }}
batch_size = 5
store_name = "Loja"

[channels.twilio_sms]
account_sid = "{fake.sid}"
auth_token = "{fake.token}"
from_number = "+5511999990000"
base_url = "{fake.origin}"
per_second = 1000

[[journeys]]
name = "pos_venda"
trigger = "post_purchase"
days = 7
channels = ["sms"]
[[journeys.steps]]
name = "como_foi"
sms = {{ text = {{ pt_BR = "{{first_name}}, como foi a compra {{order_id}}?" }} }}
"""


def setup(tmp_path: Path, fake: FakeTwilio, target: str) -> None:
    people = [customer(f"c{i:02d}", phone=f"+55119000000{i:02d}") for i in range(N)]
    orders = [order(f"o{i:02d}", f"c{i:02d}", ORDERED, salesperson_id="s1") for i in range(N)]
    write(target, people, orders)
    (tmp_path / "clientela.toml").write_text(config(fake, target), encoding="utf-8")


def clientela(tmp_path: Path, phase: str, count: int, *args: str) -> int:
    done = subprocess.run([sys.executable, str(KILLER), phase, str(count), "--", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "CLIENTELA_LOAD_PLUGINS":
                               "clientela-channel-twilio"})
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


def ledger(target: str) -> dict[str, int]:
    with Store(target) as store:
        rows = store.con.execute("SELECT status, count(*) FROM messages GROUP BY ALL").fetchall()
    return {str(s): int(n) for s, n in rows}


RUN = ("journeys", "run", "--now", NOW)


@pytest.mark.slow  # two CLI processes per case, about 4 s each
@pytest.mark.parametrize(("phase", "count"), [
    ("planning", 1), ("before_call", 7), ("after_call", 7), ("recording", 2),
])
def test_journey_killed_then_rerun_sends_each_message_once(
        tmp_path: Path, twilio: FakeTwilio, clientela_store_target: str, phase: str,
        count: int) -> None:
    setup(tmp_path, twilio, clientela_store_target)
    assert clientela(tmp_path, phase, count, *RUN) == -signal.SIGKILL
    assert clientela(tmp_path, "none", 0, *RUN) == 0
    assert twilio.duplicates() == 0
    assert len(twilio.accepted) == N
    assert sorted(m.body for m in twilio.accepted) == sorted(
        f"Ana, como foi a compra o{i:02d}?" for i in range(N))
    assert ledger(clientela_store_target) == {"sent": N}


CAMPAIGN = ("campaign", "send", "promo", "--audience", "all", "--channel", "sms",
            "--text", "{first_name}: 20% off hoje", "--control", "25%", "--now", NOW)


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "count"), [("planning", 1), ("after_call", 4)])
def test_campaign_killed_then_rerun_sends_each_message_once(
        tmp_path: Path, twilio: FakeTwilio, clientela_store_target: str, phase: str,
        count: int) -> None:
    setup(tmp_path, twilio, clientela_store_target)
    assert clientela(tmp_path, phase, count, *CAMPAIGN) == -signal.SIGKILL
    assert clientela(tmp_path, "none", 0, *CAMPAIGN) == 0
    with Store(clientela_store_target) as store:
        control = {str(r[0]) for r in store.con.execute(
            "SELECT customer_id FROM touches WHERE campaign_id = 'promo' AND is_control")
            .fetchall()}
        contacted = {str(r[0]) for r in store.con.execute(
            "SELECT customer_id FROM touches WHERE campaign_id = 'promo' AND NOT is_control")
            .fetchall()}
    assert control and not control & contacted
    assert len(control) + len(contacted) == N
    assert twilio.duplicates() == 0
    assert sorted(m.to for m in twilio.accepted) == sorted(
        f"+55119000000{c[1:]}" for c in contacted)
    assert ledger(clientela_store_target) == {"sent": len(contacted), "suppressed": len(control)}
