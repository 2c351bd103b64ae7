"""The workspace configuration: `clientela.toml`, environment variables, defaults.

Secrets are written as `${ENV_VAR}` references in the file and resolved at
load time, so the file can be committed; a resolved secret is a SecretStr
that never prints. Environment variables `CLIENTELA_<SECTION>__<FIELD>`
override the file (e.g. CLIENTELA_WORKSPACE__TIMEZONE).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CONFIG_FILE = Path("clientela.toml")
CONFIG_ENV = "CLIENTELA_CONFIG"
MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
"""A size DuckDB's memory_limit accepts."""
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_timezone(value: str) -> str:
    """The one check of an IANA zone name, for every model that takes one.

    It never echoes the value: it may have come from a ${SECRET} reference.
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as America/Sao_Paulo") from None
    return value

class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the file."""


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: Path = Field(default=Path("clientela.duckdb"), description="The DuckDB store file.")
    timezone: str = Field(default="UTC", description="IANA zone in which periods are cut.")
    currency: str = Field(default="BRL", description="Reporting currency (ISO 4217).")
    memory_limit: str | None = Field(
        default=None,
        description="Most memory a clientela process on the store may hold, e.g. '2GB': "
        "DuckDB's buffer manager gets half of it and spills the rest of its work to a "
        "temporary directory next to the store, the remainder is for Python and the results "
        "it reads; unset, DuckDB takes up to 80% of the machine's RAM and keeps what it read.")

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not MEMORY.fullmatch(value):
            raise ValueError("expected a size such as 512MB, 2GB or 1.5GiB")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("expected a three-letter ISO 4217 code such as BRL")
        return value


class LoyaltyConfig(BaseModel):
    """`[loyalty]`: the core reads the threshold; a loyalty plugin validates the rest."""

    model_config = ConfigDict(extra="allow")

    redemption_threshold: int = Field(default=500, ge=1, description="Points needed to redeem.")


IdentityRule = Literal["cpf", "email", "phone", "link"]
IDENTITY_RULES: tuple[IdentityRule, ...] = ("cpf", "email", "phone", "link")
"""The match keys identity resolution knows (see docs/identity.md)."""


class IdentityConfig(BaseModel):
    """`[identity]`: whether customer records from several sources are resolved into persons,
    by which keys in which order of trust, and what a conflict does (`clientela.identity`)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Resolve customer records into persons.")
    rules: list[IdentityRule] = Field(
        default_factory=lambda: list(IDENTITY_RULES),
        description="Match keys, most trusted first: cpf, email, phone, link.")
    strip_plus_addressing: bool = Field(
        default=False, description="Read ana+promo@example.com as ana@example.com.")
    default_country: str = Field(
        default="BR", description="ISO 3166 country of phone numbers written without +code.")
    default_area_code: str | None = Field(
        default=None, description="Area code (DDD) of Brazilian numbers written without one.")
    shared_key_limit: int = Field(
        default=3, ge=2, description="An e-mail, phone or link shared by more persons than "
        "this (a family phone, a shop's counter address) never merges them.")
    conflict_policy: Literal["keep_apart", "merge"] = Field(
        default="keep_apart", description="When a key would join records carrying different "
        "valid CPFs: keep_apart (the CPF wins) or merge (join anyway); both list the conflict.")
    link_attribute: str = Field(
        default="identity_link", min_length=1, description="The customer attribute in which "
        "a source names the customer_id of the same person elsewhere.")

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[IdentityRule]) -> list[IdentityRule]:
        if len(set(value)) != len(value):
            raise ValueError("expected each rule once, e.g. [\"cpf\", \"email\", \"phone\"]")
        return value

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str) -> str:
        import phonenumbers

        value = value.strip().upper()
        if not phonenumbers.country_code_for_region(value):
            raise ValueError("expected an ISO 3166 country code such as BR")
        return value

    @field_validator("default_area_code")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or not 1 <= len(value) <= 5:
            raise ValueError("expected the digits of an area code, such as 11")
        return value

    @model_validator(mode="after")
    def _brazilian_area(self) -> IdentityConfig:
        area = self.default_area_code
        if self.default_country == "BR" and area is not None and (
                len(area) != 2 or "0" in area):
            raise ValueError("default_area_code: expected a Brazilian area code (DDD) of two "
                             "digits from 11 to 99, such as 11")
        return self


class StoreConfig(BaseModel):
    """`[store]`: where the store lives when it is not the workspace's DuckDB file."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="A PostgreSQL database to use as the store instead of the DuckDB file, "
        "e.g. 'postgresql://clientela:${PGPASSWORD}@db.internal:5432/shop' (see docs/scale.md).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("postgresql://", "postgres://")):
            # never echo the value: it may hold a password from a ${SECRET}
            raise ValueError("expected a PostgreSQL URL such as "
                             "postgresql://user@host:5432/database")
        return value


class Settings(BaseSettings):
    """Everything `clientela.toml` can hold. Connector sections are validated by their plugin."""

    model_config = SettingsConfigDict(
        env_prefix="CLIENTELA_", env_nested_delimiter="__", extra="forbid"
    )

    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    loyalty: LoyaltyConfig = Field(default_factory=LoyaltyConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    messaging: dict[str, Any] = Field(default_factory=dict)
    """`[messaging]`: validated by `clientela.journeys.settings` when a messaging command runs."""
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """`[channels.<name>]`: validated by that channel plugin when a messaging command runs."""
    journeys: list[dict[str, Any]] = Field(default_factory=list)
    """`[[journeys]]`: validated by `clientela.journeys.spec` when a messaging command runs."""
    # an agency's client workspaces and their schedules, validated by clientela.agency
    workspaces: dict[str, dict[str, Any]] = Field(default_factory=dict)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    agency: dict[str, Any] = Field(default_factory=dict)
    engine: dict[str, Any] = Field(default_factory=dict)  # clientela.agency.engines validates it

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment first, then what load_settings() read from the file (init kwargs)
        return (env_settings, init_settings)


def _resolve(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {key: _resolve(item, f"{where}.{key}" if where else key) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"{where}: refers to ${{{name}}}, but the environment variable {name} is not set"
                )
            return os.environ[name]

        return _REFERENCE.sub(substitute, value)
    return value


class Sections(dict[str, dict[str, Any]]):
    """The `[sources.*]`, `[destinations.*]` or `[channels.*]` sections.

    A section whose `${VAR}` is unset is kept aside and raises its ConfigError only when a
    command reads it: `clientela kpi` must not fail because a Mailchimp key is not exported
    in this shell.
    """

    def __init__(self, data: dict[str, dict[str, Any]], unresolved: dict[str, str]) -> None:
        super().__init__(data)
        self.unresolved = unresolved

    def _check(self, name: object) -> None:
        if isinstance(name, str) and name in self.unresolved:
            raise ConfigError(self.unresolved[name])

    def __getitem__(self, name: str) -> dict[str, Any]:
        self._check(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._check(name)
        return super().get(name, default)

    def values(self) -> Any:
        for name in self:
            self._check(name)
        return super().values()

    def items(self) -> Any:
        for name in self:
            self._check(name)
        return super().items()


def _resolve_sections(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Resolve `${VAR}`s; in plugin sections an unset one is set aside with its message."""
    resolved: dict[str, Any] = {}
    unresolved: dict[str, dict[str, str]] = {"sources": {}, "destinations": {}, "channels": {}}
    for key, value in data.items():
        if key in unresolved and isinstance(value, dict):
            sections: dict[str, Any] = {}
            for name, section in value.items():
                try:
                    sections[name] = _resolve(section, f"{key}.{name}")
                except ConfigError as error:
                    unresolved[key][name] = str(error)
                    sections[name] = {}
            resolved[key] = sections
        else:
            resolved[key] = _resolve(value, key)
    return resolved, unresolved


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _env_override(loc: tuple[int | str, ...]) -> str | None:
    """The environment variable that set this field, if one did (they win over the file)."""
    names = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        candidate = "CLIENTELA_" + "__".join(str(part) for part in loc[:depth]).upper()
        if candidate in names:
            return names[candidate]
    return None


def describe_validation_error(error: ValidationError, origin: str, *,
                              from_environment: bool = False) -> str:
    """One line per problem, naming the field and what was expected; never the value of a secret.

    With `from_environment`, a field set by a `CLIENTELA_*` variable is blamed on that
    variable rather than on the file, which may not even mention it.
    """
    lines = []
    for detail in error.errors(include_url=False):
        message = str(detail["msg"]).removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; `clientela init` writes an example)"
        where = origin
        variable = _env_override(detail["loc"]) if from_environment else None
        if variable is not None:
            where = f"environment variable {variable}"
        lines.append(f"{where}: {_field_path(detail['loc'])}: {message}")
    return "\n".join(lines)


def config_path(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))


def load_settings(path: Path | None = None) -> Settings:
    """Read the configuration; a missing default file means all defaults."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{file}: not valid TOML: {error}") from None
    elif path is not None:
        raise ConfigError(f"{file}: no such configuration file")
    data, unresolved = _resolve_sections(data)
    try:
        settings = Settings(**data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, str(file),
                                                    from_environment=True)) from None
    settings.__dict__["sources"] = Sections(settings.sources, unresolved["sources"])
    settings.__dict__["destinations"] = Sections(settings.destinations,
                                                 unresolved["destinations"])
    settings.__dict__["channels"] = Sections(settings.channels, unresolved["channels"])
    return settings


def suggest(name: str, known: Iterable[str]) -> str:
    """"; did you mean 'shopify'?" when a known name is close, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_section_names(settings: Settings, sources: Iterable[str],
                        destinations: Iterable[str], *, also: Iterable[str] = ()) -> None:
    """Refuse a `[sources.X]` or `[destinations.X]` no installed plugin reads: a misspelt
    section is otherwise ignored in silence and the sync or push fails far from the cause.
    `also`: names accepted without being suggested (installed plugins not loaded this run)."""
    accepted = set(also)
    for kind, known in (("sources", set(sources)), ("destinations", set(destinations))):
        for name in dict.keys(getattr(settings, kind)):
            if name not in known and name not in accepted:
                listed = ", ".join(sorted(known)) or "none"
                raise ConfigError(
                    f"[{kind}.{name}]: no installed plugin reads this section{suggest(name, known)}"
                    f" (installed: {listed})")


def plugin_config(model: type[BaseModel], data: dict[str, Any], origin: str) -> BaseModel:
    """Validate a `[sources.x]` or `[destinations.x]` section with its plugin's model."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, origin)) from None


def example_config(timezone: str = "America/Sao_Paulo", currency: str = "BRL") -> str:
    """The commented clientela.toml `clientela init` writes; every example in it, once
    uncommented, validates (a test keeps it so)."""
    try:
        checked = WorkspaceConfig(timezone=timezone, currency=currency)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, "init")) from None
    return _EXAMPLE.replace("{timezone}", checked.timezone).replace("{currency}",
                                                                    checked.currency)


_EXAMPLE = """\
# clientela.toml: the workspace configuration.
# Secrets never go in this file: write ${ENV_VAR} and set the variable.
# Any setting can also come from the environment, e.g. CLIENTELA_WORKSPACE__TIMEZONE.

[workspace]
# The embedded store: one DuckDB file, created on first use.
store = "clientela.duckdb"
# Periods and calendar grains (day, week, month...) are cut in this IANA time zone.
timezone = "{timezone}"
# Revenue is reported in this currency; orders in others need an fx_rate.
currency = "{currency}"
# Most memory a clientela process on the store may hold: DuckDB gets half of it and spills
# the rest of its work to disk; unset, DuckDB may take up to 80% of the machine's RAM.
# memory_limit = "2GB"

[loyalty]
# Points a customer needs before redeeming (loyalty_redeemable_members).
redemption_threshold = 500

[identity]
# One person across every source (docs/identity.md): records that share a key join.
enabled = true
# Match keys, most trusted first.
rules = ["cpf", "email", "phone", "link"]
# Country and area code (DDD) of phone numbers written without them.
default_country = "BR"
# default_area_code = "11"
# An e-mail, phone or link shared by more persons than this never merges them.
shared_key_limit = 3
# Two different valid CPFs reached through one key: keep_apart (the CPF wins) or merge.
conflict_policy = "keep_apart"

# A source plugin reads its own section (pip install ./connectors/shopify), for example:
# [sources.shopify]
# base_url = "https://my-store.myshopify.com"
# access_token = "${SHOPIFY_ACCESS_TOKEN}"

# A destination plugin likewise (pip install ./connectors/mailchimp):
# [destinations.mailchimp]
# api_key = "${MAILCHIMP_API_KEY}"
# list_id = "abc123"
"""

EXAMPLE_CONFIG = example_config()
