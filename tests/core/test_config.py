from __future__ import annotations

from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.config import ConfigError, load_settings

SECRET = "sk_live_abcdefghijklmnop"  # no digits: masking must not be what hides it


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.workspace.timezone == "UTC"
    assert settings.workspace.currency == "BRL"
    assert settings.workspace.store == Path("clientela.duckdb")


def test_init_writes_an_example_that_loads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    settings = load_settings()
    assert settings.workspace.timezone == "America/Sao_Paulo"
    assert settings.loyalty.redemption_threshold == 500
    assert main(["init"]) == 2
    assert "clientela.toml already exists; use --force" in capsys.readouterr().err


def test_init_takes_the_time_zone_and_currency(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--timezone", "Europe/Lisbon", "--currency", "eur"]) == 0
    settings = load_settings()
    assert (settings.workspace.timezone, settings.workspace.currency) == ("Europe/Lisbon", "EUR")
    capsys.readouterr()
    assert main(["init", "--force", "--timezone", "Lisbon"]) == 2
    assert "timezone: expected an IANA time zone" in capsys.readouterr().err
    assert load_settings().workspace.timezone == "Europe/Lisbon"  # the refused init wrote nothing


def test_env_references_resolve_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("clientela.toml").write_text(
        '[workspace]\ntimezone = "America/Sao_Paulo"\n'
        '[destinations.mailchimp]\napi_key = "${MC_KEY}"\n'
    )
    monkeypatch.setenv("MC_KEY", SECRET)
    monkeypatch.setenv("CLIENTELA_WORKSPACE__CURRENCY", "usd")
    settings = load_settings()
    assert settings.destinations["mailchimp"]["api_key"] == SECRET
    assert settings.workspace.currency == "USD"
    assert settings.workspace.timezone == "America/Sao_Paulo"


def test_missing_env_variable_names_the_field_not_a_value() -> None:
    Path("clientela.toml").write_text('[sources.shopify]\naccess_token = "${SHOP_TOKEN}"\n')
    settings = load_settings()  # only what reads [sources.shopify] is blocked
    with pytest.raises(ConfigError) as caught:
        settings.sources["shopify"]
    assert str(caught.value) == (
        "sources.shopify.access_token: refers to ${SHOP_TOKEN}, but the environment variable "
        "SHOP_TOKEN is not set"
    )


@pytest.mark.parametrize(("toml", "message"), [
    ('[workspace]\ntimezone = "Mars/Olympus"\n',
     "clientela.toml: workspace.timezone: expected an IANA time zone such as America/Sao_Paulo"),
    ('[workspace]\ncurrency = "REAL"\n',
     "clientela.toml: workspace.currency: expected a three-letter ISO 4217 code such as BRL"),
    ('[workspace]\ntimezon = "UTC"\n',
     "clientela.toml: workspace.timezon: unknown setting (check the spelling; `clientela init` "
     "writes an example)"),
    ("[workspace\n", "clientela.toml: not valid TOML"),
    ('[workspace]\nmemory_limit = "plenty"\n',
     "clientela.toml: workspace.memory_limit: expected a size such as 512MB, 2GB or 1.5GiB"),
])
def test_bad_config_names_the_field_and_expectation(
    toml: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("clientela.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert main(["sync", "file"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message.split(":")[1] in err


def test_a_secret_never_appears_in_an_error(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TOKEN", SECRET)
    Path("clientela.toml").write_text(
        '[workspace]\ntimezone = "${TOKEN}"\n'
    )
    assert main(["sync", "file"]) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.err + captured.out
    assert "workspace.timezone" in captured.err
