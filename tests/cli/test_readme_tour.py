"""The README's tour, run as written: every `clientela` line of it, in order, in a fresh folder.

Liberties, all said here: the demo is smaller than the README's default (speed); the
bring-your-own-data block is run by tests/imports/test_readme_tour.py on the files
examples/data ships, so it is only checked to be there; the messaging block runs on the
demo store with the workspace's channels pointed at the local Twilio and Meta fakes of the
channel tests (the README says to configure them, docs/journeys.md says how), with a quiet
window of the whole day so that nothing depends on the hour the suite runs. Lines that
need a live platform or e-mail tool (sync, serve, push, forget) are covered by the connector
and destination suites against local fakes, and skipped here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from channels.fakes import meta as meta_fake
from channels.fakes.meta import FakeMeta
from channels.fakes.twilio import FakeTwilio

from clientela import plugins
from clientela.store import Store

README = Path(__file__).parents[2] / "README.md"
NEEDS_A_SERVICE = ("sync", "serve", "push", "forget")


def _tour() -> tuple[list[list[list[str]]], str]:
    """The `clientela` lines of each bash block of the tour, and its Python example."""
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## The two commands"):text.index("## How it is built")]
    blocks: list[list[list[str]]] = []
    for block in re.findall(r"```bash\n(.*?)```", tour, flags=re.S):
        commands = []
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if "clientela " not in line or line.startswith("pip "):
                continue
            line = line[line.index("clientela "):]  # `.venv/bin/clientela demo`
            commands.append(shlex.split(line)[1:])
        blocks.append(commands)
    python = re.findall(r"```python\n(.*?)```", tour, flags=re.S)
    return blocks, python[0]


BRING_YOUR_OWN_DATA = ["init", "import", "import", "quarantine", "schema"]
"""Run by tests/imports/test_readme_tour.py; not again here."""

MESSAGING = """
[messaging]
send = {{ sms = "twilio_sms", whatsapp = "meta_whatsapp" }}
quiet_start = 00:00:00
quiet_end = 23:59:59.999999

[channels.twilio_sms]
account_sid = "{twilio.sid}"
auth_token = "{twilio.token}"
from_number = "+5511999990000"
base_url = "{twilio.origin}"

[channels.meta_whatsapp]
phone_number_id = "{meta_id}"
access_token = "{meta_token}"
base_url = "{meta.origin}"

[[journeys]]
name = "aniversario"
trigger = "birthday"
channels = ["sms"]
[[journeys.steps]]
name = "parabens"
sms = {{ text = {{ pt_BR = "{{first_name}}, feliz aniversário!" }} }}
"""
"""What the README's messaging block needs in clientela.toml: the channels and one journey.

The quiet window is the whole day so that the campaign sends whenever the suite runs: with
the default 09:00-21:00 a run at night plans every message for the morning (as it should)
and the fakes receive none. tests/journeys/test_quiet_hours.py covers the window itself."""


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(run, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    blocks, python = _tour()
    names = [[c[0] for c in block if c[0] not in NEEDS_A_SERVICE] for block in blocks]
    assert [n for n in names if n] == [
        ["demo"], ["kpi", "kpi", "kpi", "kpi", "segments", "report", "plugins"],
        BRING_YOUR_OWN_DATA, ["clv"], ["journeys", "journeys", "campaign", "messages"]]
    monkeypatch.setenv(plugins.LOAD_ENV,
                       "clientela-channel-twilio,clientela-channel-meta-whatsapp")
    plugins.reset()
    monkeypatch.chdir(tmp_path)
    with FakeTwilio() as twilio, FakeMeta(per_second=1_000.0) as meta:
        for block in blocks:
            if [c[0] for c in block] == BRING_YOUR_OWN_DATA:
                continue
            if block and block[0][0] == "journeys":
                with Path("clientela.toml").open("a", encoding="utf-8") as toml:
                    toml.write(MESSAGING.format(twilio=twilio, meta=meta,
                                                meta_id=meta_fake.PHONE_ID,
                                                meta_token=meta_fake.TOKEN))
            for command in block:
                if command[0] in NEEDS_A_SERVICE:
                    continue
                if command == ["demo"]:
                    command = ["demo", "--customers", "1500", "--orders", "6000"]
                ran = run(*command)
                assert ran.exit_code == 0, (command, ran.output[-3000:])
                assert "error" not in ran.err.lower(), (command, ran.err)
        sent = {"sms": len(twilio.accepted), "whatsapp": len(meta.accepted)}
    assert Path("rfm.csv").exists() and Path("kpis.xlsx").exists()
    assert Path("relatorio.html").read_text(encoding="utf-8").lstrip().lower().startswith(
        "<!doctype html")
    with Store("clientela.duckdb") as store:
        natal = dict(store.con.execute(
            "SELECT coalesce(reason, status), count(*) FROM messages WHERE origin = 'natal' "
            "AND medium = 'whatsapp' GROUP BY ALL").fetchall())
        champions = store.con.execute(
            "SELECT count(*) FROM rfm_scores WHERE segment = 'Champions'").fetchone()
    # every Champion is in the campaign's ledger; what WhatsApp accepted is what it records sent
    assert sent["whatsapp"] > 0 and natal.get("sent") == sent["whatsapp"], (natal, sent)
    assert natal.get("control_group", 0) > 0, natal
    assert champions is not None and sum(natal.values()) <= champions[0]
    exec(compile(python, "README.md", "exec"), {})  # the Python example, on the demo store
