"""The failure e-mail: sent through a real SMTP server on 127.0.0.1, only when a job failed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agency.helpers import customers_csv, import_schedule, workspace_section
from clientela.cli.app import main

USER, PASSWORD = "alerts", "s3cr3t-smtp-pass"


class Inbox:
    """Keeps what the server accepted: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=authenticate, auth_require_tls=False)
    controller.start()
    yield controller.port, inbox
    controller.stop()


def agency(tmp_path: Path, notify: str, *, charlie_exists: bool = False) -> Path:
    acme = customers_csv(tmp_path / "data" / "acme.csv", ["A1", "A2"])
    charlie = tmp_path / "data" / "charlie.csv"
    if charlie_exists:
        customers_csv(charlie, ["C1"])
    path = tmp_path / "clientela-agency.toml"
    path.write_text(notify + workspace_section("acme") + workspace_section("charlie")
                    + import_schedule("acme", acme) + import_schedule("charlie", charlie),
                    encoding="utf-8")
    return path


def email_section(port: int, password: str = "${SMTP_PASSWORD}") -> str:
    return f"""[agency]
on_failure_email = ["ops@agency.example", "owner@agency.example"]
email_from = "clientela@agency.example"
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_security = "none"
smtp_username = "{USER}"
smtp_password = "{password}"
"""


def test_a_failed_job_is_emailed_to_every_recipient_and_a_clean_run_sends_nothing(
        tmp_path: Path, smtp: tuple[int, Inbox], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    agency(tmp_path, email_section(port))
    assert main(["run", "--due"]) == 1
    [(recipients, message)] = inbox.received
    assert recipients == ["ops@agency.example", "owner@agency.example"]
    assert message["Subject"] == "clientela: 1 scheduled job(s) failed: charlie"
    assert message["From"] == "clientela@agency.example"
    body = message.get_content().replace("\r\n", "\n")
    charlie = f"{tmp_path}/data/charlie.csv"
    assert f"- charlie / import {charlie} --entity customers (started 20" in body
    assert f"): no such file: {charlie}\n" in body
    assert "1 of 2 scheduled job(s) failed." in body
    output = capsys.readouterr()
    assert PASSWORD not in output.out + output.err
    customers_csv(tmp_path / "data" / "charlie.csv", ["C1"])
    assert main(["run", "--due"]) == 0  # charlie's job is retried and succeeds
    assert len(inbox.received) == 1


def test_a_refused_login_or_an_unreachable_server_is_a_warning_not_a_new_failure(
        tmp_path: Path, smtp: tuple[int, Inbox], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp
    monkeypatch.chdir(tmp_path)
    agency(tmp_path, email_section(port, password="wrong-password"))
    assert main(["run", "--due"]) == 1  # charlie's failure, nothing more
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the failure e-mail was refused: SMTP login failed" in err
    assert "wrong-password" not in err
    assert inbox.received == []
    agency(tmp_path, email_section(free_port(), password="x"))
    assert main(["run", "--due"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the SMTP server could not be reached (ConnectionRefusedError)" in err


def test_recipients_without_a_server_name_the_missing_fields(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    agency(tmp_path, '[agency]\non_failure_email = ["ops@agency.example"]\n')
    assert main(["run", "--due"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "on_failure_email needs smtp_host and email_from in [agency]" in err
    assert "Traceback" not in err
