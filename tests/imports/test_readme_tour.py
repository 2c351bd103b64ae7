"""The README's bring-your-own-data tour runs as written, on the files examples/data ships."""

from __future__ import annotations

import re
import shlex
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.store import Store

ROOT = Path(__file__).resolve().parents[2]


def tour_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("Bring your own data", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "clientela"
        commands.append(words[1:])
    return commands


def test_the_bring_your_own_data_tour_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "examples" / "data", Path("examples") / "data")
    commands = tour_commands()
    assert [c[0] for c in commands] == ["init", "import", "import", "quarantine", "schema"]
    for command in commands:
        assert main(command) == 0, command
    out = " ".join(capsys.readouterr().out.split())
    assert "│ file │ Customer │ C007 │ Customer 'C007': field 'email': value │" in out
    with Store("clientela.duckdb") as store:
        assert store.count("customers") == 19
        assert store.con.execute(
            "SELECT count(*), count(DISTINCT channel), min(channel) FROM orders").fetchall() == [
            (60, 1, "store")]
        ana = store.con.execute(
            "SELECT email, city, birth_date FROM customers WHERE customer_id = 'C001'").fetchall()
        total = store.con.execute("SELECT sum(total) FROM orders").fetchone()
    assert ana == [("ana.1@example.com", "Porto Alegre", date(1965, 11, 27))]
    assert total is not None and isinstance(total[0], Decimal)
    assert sorted(p.name for p in Path("schema").iterdir())[0] == "campaigns.schema.json"
