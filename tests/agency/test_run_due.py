"""`clientela run --due` over two and three client workspaces, one of them failing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agency.helpers import customers_csv, import_schedule, workspace_section
from clientela.cli.app import main
from clientela.config import load_settings
from clientela.store import Store


def agency_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "clientela-agency.toml"
    path.write_text(body, encoding="utf-8")
    return path


def history(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    with Store(tmp_path / "stores" / f"{name}.duckdb", read_only=True) as store:
        return store.run_log("schedule")


def customers(tmp_path: Path, name: str) -> int:
    with Store(tmp_path / "stores" / f"{name}.duckdb", read_only=True) as store:
        return store.count("customers")


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """acme and bravo import their customers; charlie's file is missing."""
    acme = customers_csv(tmp_path / "data" / "acme.csv", ["A1", "A2"])
    bravo = customers_csv(tmp_path / "data" / "bravo.csv", ["B1", "B2", "B3"])
    charlie = tmp_path / "data" / "charlie.csv"
    return agency_file(tmp_path, "".join([
        workspace_section("acme", timezone="America/Sao_Paulo"),
        workspace_section("bravo", timezone="Europe/Lisbon", currency="EUR"),
        workspace_section("charlie"),
        import_schedule("acme", acme, timezone="America/Sao_Paulo"),
        import_schedule("bravo", bravo, timezone="Europe/Lisbon"),
        import_schedule("charlie", charlie),
    ]))


def test_one_failing_workspace_never_stops_the_others(
        tmp_path: Path, three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--due"]) == 1
    out = capsys.readouterr().out
    assert "3 job(s): 2 ok, 1 failed, 0 busy" in out
    assert "no such file" in out
    assert customers(tmp_path, "acme") == 2
    assert customers(tmp_path, "bravo") == 3
    [acme] = history(tmp_path, "acme")
    assert (acme["target"], acme["status"], acme["message"]) == (
        f"import {tmp_path}/data/acme.csv --entity customers", "ok", None)
    assert acme["stats"] == {"exit_code": 0, "rows": {"customers": 2}}
    assert acme["started_at"] <= acme["finished_at"]
    [charlie] = history(tmp_path, "charlie")
    assert charlie["status"] == "failed"
    assert charlie["message"].startswith("no such file")
    assert charlie["stats"] == {"exit_code": 2, "rows": {}}


def test_a_failed_job_is_retried_by_the_next_run_and_the_others_are_not_due(
        tmp_path: Path, three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--due"]) == 1
    assert main(["run", "--due"]) == 1
    out = capsys.readouterr().out
    assert "1 job(s): 0 ok, 1 failed, 0 busy" in out
    assert len(history(tmp_path, "acme")) == 1  # succeeded at the first run: not due again
    customers_csv(tmp_path / "data" / "charlie.csv", ["C1"])
    assert main(["run", "--due"]) == 0
    assert "1 job(s): 1 ok, 0 failed, 0 busy" in capsys.readouterr().out
    assert [run["status"] for run in history(tmp_path, "charlie")] == ["ok", "failed", "failed"]
    assert customers(tmp_path, "charlie") == 1
    assert main(["run", "--due"]) == 0
    assert "nothing was due" in capsys.readouterr().out


def test_two_workspaces_and_the_list_of_last_outcomes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acme = customers_csv(tmp_path / "data" / "acme.csv", ["A1"])
    agency_file(tmp_path, workspace_section("acme") + workspace_section("bravo")
                + import_schedule("all", acme))
    assert main(["workspaces"]) == 0
    assert capsys.readouterr().out.count("never run") == 2
    assert main(["run", "--due"]) == 0
    assert "2 job(s): 2 ok, 0 failed, 0 busy" in capsys.readouterr().out
    assert customers(tmp_path, "acme") == customers(tmp_path, "bravo") == 1
    assert main(["workspaces"]) == 0
    listing = capsys.readouterr().out
    assert listing.count(" ok ") == 2 and "never run" not in listing


def test_run_due_for_one_workspace_only(tmp_path: Path, three: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", "bravo", "run", "--due"]) == 0
    assert "1 job(s): 1 ok, 0 failed, 0 busy" in capsys.readouterr().out
    assert not (tmp_path / "stores" / "acme.duckdb").exists()


def test_any_command_runs_for_one_workspace(tmp_path: Path, three: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--due"])
    capsys.readouterr()
    assert main(["--workspace", "bravo", "quarantine", "--json"]) == 0
    assert capsys.readouterr().out == ""
    bad = customers_csv(tmp_path / "bad.csv", ["X1"])
    bad.write_text("customer_id,email\nX1,not-an-email\n", encoding="utf-8")
    assert main(["-w", "acme", "import", str(bad), "--entity", "customers"]) == 0
    capsys.readouterr()
    assert main(["-w", "acme", "quarantine", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == "X1"
    assert main(["-w", "bravo", "quarantine", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_an_unknown_workspace_is_a_user_error_with_a_suggestion(
        three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", "acne", "quarantine"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'acne'" in err and "did you mean 'acme'?" in err


def test_a_missing_secret_fails_its_workspace_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    acme = customers_csv(tmp_path / "data" / "acme.csv", ["A1"])
    secret = '[workspaces.bravo.destinations.mailchimp]\napi_key = "${BRAVO_MAILCHIMP_KEY}"\n'
    agency_file(tmp_path, workspace_section("acme") + workspace_section("bravo", extra=secret)
                + import_schedule("all", acme))
    monkeypatch.setenv("BRAVO_MAILCHIMP_KEY", "s3cr3t-value")
    assert main(["run", "--due"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("BRAVO_MAILCHIMP_KEY")
    (tmp_path / "stores" / "acme.duckdb").unlink()
    assert main(["run", "--due"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "BRAVO_MAILCHIMP_KEY" in out and "s3cr3t" not in out and "1 ok, 1 failed" in out
    assert customers(tmp_path, "acme") == 1


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_the_failure_webhook_gets_the_failed_jobs_only_when_something_failed(
        tmp_path: Path, three: Path, webhook: tuple[str, list[dict[str, Any]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = webhook
    monkeypatch.setenv("AGENCY_HOOK", url)
    three.write_text('[agency]\non_failure_webhook = "${AGENCY_HOOK}"\n' + three.read_text())
    assert main(["run", "--due"]) == 1
    [payload] = received
    assert [(f["workspace"], f["error"]) for f in payload["failed"]] == [
        ("charlie", f"no such file: {tmp_path}/data/charlie.csv")]
    assert payload["text"].startswith("clientela: 1 scheduled job(s) failed: charlie/import")
    customers_csv(tmp_path / "data" / "charlie.csv", ["C1"])
    assert main(["run", "--due"]) == 0
    assert len(received) == 1


def test_loop_runs_rounds_like_due(tmp_path: Path, three: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--loop", "--max-rounds", "1"]) == 1
    assert "3 job(s): 2 ok, 1 failed, 0 busy" in capsys.readouterr().out


def test_due_and_loop_together_is_a_user_error(three: Path) -> None:
    assert main(["run"]) == 2
    assert main(["run", "--due", "--loop"]) == 2


def test_workspaces_may_live_in_clientela_toml(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    acme = customers_csv(tmp_path / "data" / "acme.csv", ["A1", "A2"])
    (tmp_path / "clientela.toml").write_text(
        '[workspace]\ntimezone = "America/Sao_Paulo"\n' + workspace_section("acme")
        + import_schedule("acme", acme), encoding="utf-8")
    assert main(["run", "--due"]) == 0
    assert customers(tmp_path, "acme") == 2
    # the file still serves as the default workspace's configuration
    assert load_settings(tmp_path / "clientela.toml").workspace.timezone == "America/Sao_Paulo"
    assert main(["-w", "acme", "quarantine"]) == 0
    assert "the quarantine is empty" in capsys.readouterr().out
