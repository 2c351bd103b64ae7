"""No command ever prints a secret: every secret field of every installed connector holds a
distinctive value, and everything every command prints is scanned for it.

The sections are tried three ways: complete (so commands get as far as the network, which is
a closed port on 127.0.0.1), with the secrets coming from `${ENV}` references, and incomplete
(so validation fails on the section that holds the secrets, the path that once printed a
token through pydantic's `input_value`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from clientela import plugins

CONNECTORS = ("shopify", "woocommerce", "vtex", "nuvemshop", "mailchimp", "sendgrid",
              "hubspot", "rdstation", "agilecrm")
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


MARK = "S3cR"
"""Every secret starts with it, so even a printout that shortens a value ('S3cRwoo...Xy')
gives it away."""


def _secret(section: str, field: str) -> str:
    return f"{MARK}{section}{field.replace('_', '')}tokenXy"


def _secret_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items() if "SecretStr" in str(info.annotation)]


def _required_value(name: str) -> Any:
    if "url" in name:
        return CLOSED
    if name == "email":
        return "owner@example.com"
    return "x1"


def _section(model: type[BaseModel], kind: str, name: str, how: str) -> dict[str, Any]:
    secrets = _secret_fields(model)
    values: dict[str, Any] = {}
    for field in secrets:
        values[field] = f"${{{'SCAN_' + (name + field).upper()}}}" if how == "env" else \
            _secret(name, field)
    if how == "incomplete":
        values["not_a_setting"] = 1
        return values
    for field, info in model.model_fields.items():
        if field in values:
            continue
        if info.is_required():
            values[field] = _required_value(field)
        elif field == "base_url":
            values[field] = CLOSED
        elif field in ("max_attempts", "max_throttled_attempts", "throttle_attempts"):
            values[field] = 1
    return values


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _write_config(path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    registry = plugins.registry()
    lines = ['[workspace]', f'store = "{path.parent / "scan.duckdb"}"', ""]
    everything: list[str] = []
    for kind, label in (("sources", "source"), ("destinations", "destination")):
        for name in CONNECTORS:
            spec = registry.items[label].get(name)
            if spec is None:
                continue
            model = spec.config
            for field in _secret_fields(model):
                everything.append(_secret(name, field))
                monkeypatch.setenv("SCAN_" + (name + field).upper(), _secret(name, field))
            lines.append(f"[{kind}.{name}]")
            lines += [f"{key} = {_toml(value)}"
                      for key, value in _section(model, kind, name, how).items()]
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return everything


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        yield held.getsockname()[1]


def _commands(tmp: Path, port: int) -> list[list[str]]:
    registry = plugins.registry()
    sources = [n for n in CONNECTORS if n in registry.items["source"]]
    destinations = [n for n in CONNECTORS if n in registry.items["destination"]]
    commands = [
        ["plugins"], ["plugins", "--json"], ["kpi", "--list"],
        ["kpi", "revenue", "aov", "--from", "2025-01", "--to", "2025-02"],
        ["segments", "rfm"], ["quarantine"], ["schema", "--output", str(tmp / "schema")],
        ["init"], ["clv", "--holdout", "1"],
        ["serve", "--port", str(port)],
        ["forget", "maria@example.com"],
    ]
    commands += [["sync", name] for name in sources]
    for name in destinations:
        commands += [["push", name, "--dry-run"], ["push", name]]
    return commands


@pytest.mark.slow
@pytest.mark.parametrize("how", ["literal", "env", "incomplete"])
def test_no_command_prints_a_secret(how: str, tmp_path: Path, run, busy_port: int,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plugins.LOAD_ENV)  # every installed connector, not only the core
    plugins.reset(forget_local=True)
    if "shopify" not in plugins.registry().items["source"]:
        pytest.skip("the connectors are not installed")
    config = tmp_path / "clientela.toml"
    secrets = _write_config(config, how, monkeypatch)
    assert len(secrets) >= 15
    loaded = run("demo", "--customers", "30", "--orders", "120", "--no-report")
    assert loaded.exit_code == 0, loaded.output
    seen: list[str] = []
    for command in _commands(tmp_path, busy_port):
        for debug in ([], ["--debug"]):
            ran = run(*debug, *command)
            seen.append(ran.output)
            assert ran.exit_code in (0, 1, 2), (command, ran.exit_code)
            assert MARK not in ran.output, (command, debug, ran.output[-2000:])
    everything = "\n".join(seen)
    assert "looks like a bug" not in everything, everything[-3000:]
