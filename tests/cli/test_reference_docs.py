"""The reference pages cover what exists, and the licence is the one the packages declare."""

from __future__ import annotations

import tomllib
from pathlib import Path

import typer.main

from clientela.cli.app import app
from clientela.config import IdentityConfig, LoyaltyConfig, WorkspaceConfig

ROOT = Path(__file__).parents[2]


def test_cli_reference_names_every_command_and_exit_code() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    command = typer.main.get_command(app)
    for name in command.commands:  # type: ignore[attr-defined]
        assert f"`clientela {name}" in text, name
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in text
    assert "half-open" in text


def test_config_reference_names_every_setting() -> None:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    for model in (WorkspaceConfig, LoyaltyConfig, IdentityConfig):
        for field in model.model_fields:
            assert f"`{field}`" in text, field
    assert "CLIENTELA_WORKSPACE__TIMEZONE" in text and "${" in text


def test_license_is_the_declared_apache_2() -> None:
    declared = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
