"""Two runs at once, and a run killed mid-job: the store's lock and the run history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agency.helpers import PLUGIN, TESTS, workspace_section
from clientela.cli.app import main
from clientela.store import Store


def hold_agency(tmp_path: Path, *, own_run: bool = False) -> Path:
    """One workspace whose nightly job `hold` runs until the gate file appears (logging its own
    run in the store when `own_run`)."""
    gate = tmp_path / "gate"
    own = f', "--store", "{tmp_path / "stores" / "acme.duckdb"}"' if own_run else ""
    (tmp_path / "clientela-agency.toml").write_text(workspace_section("acme") + f"""
[[schedules]]
workspace = "acme"
job = "hold"
args = ["{gate}"{own}]
cron = "0 3 * * *"
timezone = "America/Sao_Paulo"
""", encoding="utf-8")
    return gate


def start_run(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "clientela.cli.app", "--plugin", PLUGIN, "run", "--due"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_started(gate: Path, process: subprocess.Popen[bytes]) -> None:
    started = gate.with_name(gate.name + ".started")
    deadline = time.monotonic() + 60
    while not started.exists():
        assert process.poll() is None, "the first run ended before its job started"
        assert time.monotonic() < deadline, "the first run's job never started"
        time.sleep(0.05)


def statuses(tmp_path: Path) -> list[str]:
    with Store(tmp_path / "stores" / "acme.duckdb", read_only=True) as store:
        return [run["status"] for run in reversed(store.run_log("schedule"))]


@pytest.fixture
def plugin_path(monkeypatch: pytest.MonkeyPatch, app_commands_restored: None) -> None:
    """The job plugin importable; its `hold` command leaves the app afterwards."""
    monkeypatch.syspath_prepend(str(TESTS))


def test_a_second_run_leaves_a_busy_workspace_with_a_clear_message(
        tmp_path: Path, plugin_path: None, capsys: pytest.CaptureFixture[str]) -> None:
    gate = hold_agency(tmp_path)
    first = start_run(tmp_path)
    try:
        wait_until_started(gate, first)
        assert main(["--plugin", PLUGIN, "run", "--due"]) == 1  # its job did not run
        out = " ".join(capsys.readouterr().out.split())
        assert "acme (hold" in out and "another `clientela run` holds acme.duckdb.lock" in out
        assert "1 job(s): 0 ok, 0 failed, 1 busy" in out
    finally:
        gate.write_text("open", encoding="utf-8")
        assert first.wait(timeout=60) == 0
    assert statuses(tmp_path) == ["ok"]


def test_sigkill_mid_run_then_the_next_run_records_interrupted_and_completes(
        tmp_path: Path, plugin_path: None, capsys: pytest.CaptureFixture[str]) -> None:
    gate = hold_agency(tmp_path, own_run=True)
    first = start_run(tmp_path)
    wait_until_started(gate, first)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    assert statuses(tmp_path) == ["running"]
    gate.write_text("open", encoding="utf-8")
    assert main(["--plugin", PLUGIN, "run", "--due"]) == 0  # the lock died with the process
    out = " ".join(capsys.readouterr().out.split())
    assert "acme: 1 earlier run(s) had been killed" in out
    assert "1 job(s): 1 ok, 0 failed, 0 busy" in out
    assert statuses(tmp_path) == ["interrupted", "ok"]
    with Store(tmp_path / "stores" / "acme.duckdb", read_only=True) as store:
        interrupted = store.run_log("schedule")[-1]
    assert interrupted["message"] == "the process running it was killed or stopped before it finished"
    assert interrupted["finished_at"] is not None
    with Store(tmp_path / "stores" / "acme.duckdb", read_only=True) as store:
        own = [run["status"] for run in reversed(store.run_log("hold"))]
        message = store.run_log("hold")[-1]["message"]
    # the killed job's own run is closed too, and the re-run's own run finished ok
    assert own == ["interrupted", "ok"]
    assert message == "started by a scheduled run that was killed or stopped before it finished"
    assert main(["--plugin", PLUGIN, "run", "--due"]) == 0
    assert "nothing was due" in capsys.readouterr().out


def test_a_second_run_that_waits_finds_the_job_done_and_runs_it_once(
        tmp_path: Path, plugin_path: None, capsys: pytest.CaptureFixture[str]) -> None:
    gate = hold_agency(tmp_path)
    first = start_run(tmp_path)
    try:
        wait_until_started(gate, first)
        opener = threading.Timer(0.5, gate.write_text, args=("open",))
        opener.start()
        assert main(["--plugin", PLUGIN, "run", "--due", "--wait", "60"]) == 0
        opener.join()
        assert "nothing was due" in capsys.readouterr().out
    finally:
        gate.write_text("open", encoding="utf-8")
        assert first.wait(timeout=60) == 0
    assert statuses(tmp_path) == ["ok"]  # once, not once per runner
