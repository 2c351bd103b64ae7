"""The agency file and schedules shown in docs/agencies.md load as written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from clientela.agency.schedules import parse_schedules
from clientela.agency.workspaces import load_agency
from clientela.cli.run import installed_commands

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agencies.md"


def test_the_documented_agency_file_and_schedules_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    path = tmp_path / "clientela-agency.toml"
    path.write_text(blocks[0] + blocks[1], encoding="utf-8")
    monkeypatch.setenv("AGENCY_ALERTS_WEBHOOK", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("ACME_SHOPIFY_TOKEN", "token")
    monkeypatch.setenv("ACME_MAILCHIMP_KEY", "key-us1")
    agency = load_agency(path)
    assert list(agency.workspaces) == ["acme", "lisboa"]
    assert agency.notify.on_failure_webhook == "http://127.0.0.1:9/hook"
    schedules = parse_schedules(agency.raw["schedules"], origin=str(path),
                                workspaces=agency.workspaces, jobs=installed_commands())
    assert [s.label for s in schedules] == ["sync shopify", "weekday push"]
    settings = agency.settings_for("acme")
    assert settings.workspace.store == tmp_path / "stores" / "acme.duckdb"
    assert settings.sources["shopify"]["access_token"] == "token"
    (tmp_path / "clients" / "lisboa").mkdir(parents=True)
    (tmp_path / "clients" / "lisboa" / "clientela.toml").write_text(
        '[workspace]\nstore = "lisboa.duckdb"\ntimezone = "Europe/Lisbon"\ncurrency = "BRL"\n')
    lisboa = agency.settings_for("lisboa").workspace
    assert (lisboa.store, lisboa.timezone, lisboa.currency) == (
        tmp_path / "clients" / "lisboa" / "lisboa.duckdb", "Europe/Lisbon", "EUR")


def test_the_documented_failure_email_section_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela.agency.workspaces import NotifySection
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    [email] = [b for b in blocks if "on_failure_email" in b]
    section = tomllib.loads(email)["agency"]
    notify = NotifySection.model_validate(section)
    assert (notify.smtp_host, notify.smtp_port, notify.smtp_security) == (
        "smtp.agency.example", 587, "starttls")
    assert notify.on_failure_email == ["ops@agency.example"]
