"""The README's tour, run as written: every `clientela` line of it, in order, in a fresh folder.

Two liberties, both said here: the demo is smaller than the README's default (speed), and
the bring-your-own-data files are written by this test (the same columns the README maps).
Lines that need a live platform or e-mail tool (sync, serve, push, forget) are covered by
the connector and destination suites against local fakes, and skipped here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

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


def _sample_files(folder: Path) -> None:
    """What the README imports: a customers CSV with its own column names, orders in Parquet
    without a channel column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "clientes.csv").write_text(
        "id,E-mail,nome\nc1,ana@example.com,Ana\nc2,bruno@example.com,Bruno\n"
        "c3,not-an-email,Carla\n", encoding="utf-8")
    pq.write_table(pa.table({
        "order_id": ["p1", "p2", "p3"], "customer_id": ["c1", "c1", "c2"],
        "status": ["paid", "paid", "paid"],
        "placed_at": ["2025-03-01T10:00:00", "2025-04-02T11:00:00", "2025-04-03T12:00:00"],
        "subtotal": [100.0, 50.5, 80.0], "total": [100.0, 50.5, 80.0]}),
        folder / "pedidos.parquet")


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(run, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    blocks, python = _tour()
    names = [[c[0] for c in block if c[0] not in NEEDS_A_SERVICE] for block in blocks]
    assert [n for n in names if n] == [
        ["demo"], ["kpi", "kpi", "kpi", "kpi", "segments", "plugins"],
        ["init", "import", "import", "quarantine", "schema"], ["clv"]]
    demo_folder, own_folder = tmp_path / "demo", tmp_path / "own"
    demo_folder.mkdir()
    own_folder.mkdir()
    _sample_files(own_folder)
    for block in blocks:
        folder = own_folder if any(c[0] == "init" for c in block) else demo_folder
        monkeypatch.chdir(folder)
        for command in block:
            if command[0] in NEEDS_A_SERVICE:
                continue
            if command == ["demo"]:
                command = ["demo", "--customers", "1500", "--orders", "6000"]
            ran = run(*command)
            assert ran.exit_code == 0, (command, ran.output[-3000:])
            assert "error" not in ran.err.lower(), (command, ran.err)
    assert (demo_folder / "rfm.csv").exists() and (own_folder / "schema").is_dir()
    assert (demo_folder / "kpis.xlsx").exists()
    monkeypatch.chdir(demo_folder)
    exec(compile(python, "README.md", "exec"), {})  # the Python example, on the demo store
