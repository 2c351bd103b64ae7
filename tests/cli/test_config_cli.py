"""Configuration errors name the right culprit and block only what they must."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from clientela import plugins
from clientela.config import ConfigError, example_config, load_settings, plugin_config


@pytest.fixture
def demo_store(run, tmp_path: Path) -> Path:
    store = tmp_path / "demo.duckdb"
    assert run("--store", str(store), "demo", "--customers", "20", "--orders", "60",
               "--no-report").exit_code == 0
    return store


def test_an_environment_override_error_names_the_variable(
        run, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("clientela.toml").write_text('[workspace]\ntimezone = "UTC"\n')
    monkeypatch.setenv("CLIENTELA_WORKSPACE__TIMEZONE", "Mars/Olympus")
    ran = run("kpi", "revenue", "--from", "2025-01")
    assert ran.exit_code == 2
    assert " ".join(ran.err.split()) == (
        "error: environment variable CLIENTELA_WORKSPACE__TIMEZONE: workspace.timezone: "
        "expected an IANA time zone such as America/Sao_Paulo")


def test_the_file_is_still_blamed_for_its_own_mistakes() -> None:
    Path("clientela.toml").write_text('[workspace]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"^clientela.toml: workspace.timezone"):
        load_settings()


def test_an_unset_variable_blocks_only_commands_needing_its_section(
        run, demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plugins.LOAD_ENV)
    plugins.reset(forget_local=True)
    Path("clientela.toml").write_text(
        f'[workspace]\nstore = "{demo_store}"\n'
        '[destinations.mailchimp]\napi_key = "${MC_KEY_NOT_SET}"\nlist_id = "L1"\n')
    kpi = run("kpi", "revenue", "--from", "2024-01", "--to", "2024-12")
    assert kpi.exit_code == 0, kpi.output
    push = run("push", "mailchimp", "--dry-run")
    assert push.exit_code == 2
    assert "destinations.mailchimp.api_key: refers to ${MC_KEY_NOT_SET}" in \
        " ".join(push.err.split())


@pytest.mark.parametrize(("section", "suggestion"), [
    ("sources.shopfy", "(installed: file"),
    ("destinations.mailchimpp", ""),
    ("sources.fiel", "did you mean 'file'?"),
])
def test_an_unknown_section_is_refused(run, section: str, suggestion: str) -> None:
    Path("clientela.toml").write_text(f'[{section}]\nx = 1\n')
    ran = run("kpi", "revenue", "--from", "2025-01")
    assert ran.exit_code == 2
    text = " ".join(ran.err.split())
    assert f"[{section}]: no installed plugin reads this section" in text
    assert suggestion in text


def test_an_unknown_section_gets_did_you_mean_among_installed_connectors(
        run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plugins.LOAD_ENV)
    plugins.reset(forget_local=True)
    if "shopify" not in plugins.registry().items["source"]:
        pytest.skip("the connectors are not installed")
    Path("clientela.toml").write_text('[sources.shopfy]\nbase_url = "https://x"\n')
    ran = run("kpi", "revenue", "--from", "2025-01")
    assert ran.exit_code == 2
    assert "did you mean 'shopify'?" in " ".join(ran.err.split())


def test_every_example_in_init_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plugins.LOAD_ENV)
    plugins.reset(forget_local=True)
    registry = plugins.registry()
    if "shopify" not in registry.items["source"] or "mailchimp" not in registry.items["destination"]:
        pytest.skip("the connectors are not installed")
    text = example_config()
    uncommented = re.sub(r"(?m)^# (\[|[a-z_]+ = )", r"\1", text)
    data = tomllib.loads(uncommented)
    assert set(data["sources"]) == {"shopify"} and set(data["destinations"]) == {"mailchimp"}
    for kind, label in (("sources", "source"), ("destinations", "destination")):
        for name, section in data[kind].items():
            plugin_config(registry.get(label, name).config, section, f"{kind}.{name}")


def test_init_writes_the_chosen_timezone_and_currency() -> None:
    text = example_config("Europe/Lisbon", "eur")
    assert 'timezone = "Europe/Lisbon"' in text and 'currency = "EUR"' in text
    with pytest.raises(ConfigError, match="init: timezone: expected an IANA time zone"):
        example_config("Lisbon", "EUR")


MESSAGING_SECTIONS = """
[messaging]
send = { sms = "twilio_sms" }
quiet_start = "08:00"

[channels.twilio_sms]
account_sid = "AC00000000000000000000000000000000"
auth_token = "${TWILIO_TOKEN_NOT_SET}"
from_number = "+5511999990000"

[[journeys]]
name = "pos_venda"
trigger = "post_purchase"
days = 7
channels = ["sms"]
[[journeys.steps]]
name = "como_foi"
sms = { text = { pt_BR = "{first_name}, como foi?" } }
"""


def test_messaging_channels_and_journeys_sections_do_not_break_other_commands(
        run, tmp_path: Path) -> None:
    store = tmp_path / "demo.duckdb"
    workspace = f'[workspace]\nstore = "{store}"\ncurrency = "BRL"\n'
    Path("clientela.toml").write_text(workspace + MESSAGING_SECTIONS)
    demo = run("demo", "--customers", "20", "--orders", "60", "--no-report")
    assert demo.exit_code == 0, demo.output
    kpi = run("kpi", "revenue", "--from", "2024-01", "--to", "2024-12", "--format", "json")
    assert kpi.exit_code == 0, kpi.output
    settings = load_settings()
    assert settings.messaging == {"send": {"sms": "twilio_sms"}, "quiet_start": "08:00"}
    assert [journey["name"] for journey in settings.journeys] == ["pos_venda"]
    with pytest.raises(ConfigError, match=r"channels\.twilio_sms\.auth_token: refers to "
                                          r"\$\{TWILIO_TOKEN_NOT_SET\}"):
        settings.channels["twilio_sms"]  # only a command that sends reads it

    Path("clientela.toml").write_text(workspace)  # the same store, without the sections
    assert run("kpi", "revenue", "--from", "2024-01", "--to", "2024-12", "--format",
               "json").out == kpi.out
