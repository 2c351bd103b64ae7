"""The agency file: which client workspaces exist and what each one is made of.

A workspace is what one `clientela.toml` describes (a store file, a time zone,
a currency, sources, destinations), written as a `[workspaces.<name>]` section
of `clientela-agency.toml` (or of `clientela.toml`), or pointing to a client's
own file with `config = "clients/acme.toml"`.

A workspace's store may be a PostgreSQL database instead of a file: `[store] url`
in the client's own file, or `store = "postgresql://..."` in its section (either
with `${ENV}` secrets); its jobs, run history and lock then live on that server.

`${ENV}` references are resolved per workspace and only when that workspace is
used: a client whose secret is missing fails alone, the others still run.
Relative paths (store, config) are read from the agency file's folder, so the
agency can be run from anywhere (cron's working directory is `/`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from clientela.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    ConfigError,
    Settings,
    _resolve,
    describe_validation_error,
)
from clientela.store.postgres import is_postgres_url

AGENCY_FILE = Path("clientela-agency.toml")
AGENCY_ENV = "CLIENTELA_AGENCY"
WORKSPACE_KEYS = ("store", "timezone", "currency", "memory_limit")
"""The `[workspace]` settings a `[workspaces.<name>]` section may set directly."""


class WorkspaceSection(BaseModel):
    """`[workspaces.<name>]` before its `${ENV}` references are resolved (checked for shape only)."""

    model_config = ConfigDict(extra="forbid")

    config: Path | None = Field(default=None, description="A client's own clientela.toml.")
    store: str | None = None
    timezone: str | None = None
    currency: str | None = None
    memory_limit: str | None = None
    loyalty: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = Field(default_factory=dict)


class NotifySection(BaseModel):
    """`[agency]`: what to do when a scheduled job fails (a webhook, an e-mail, or both)."""

    model_config = ConfigDict(extra="forbid")

    on_failure_webhook: str | None = Field(
        default=None, description="URL that receives a JSON POST listing the failed jobs.")
    webhook_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for it.")
    on_failure_email: list[str] = Field(
        default_factory=list, description="Addresses that receive an e-mail listing the failed jobs.")
    email_from: str | None = Field(default=None, description="The sender of that e-mail.")
    smtp_host: str | None = Field(default=None, description="The SMTP server that sends it.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (port 465) or none (a local relay).")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _email_needs_a_server(self) -> NotifySection:
        if self.on_failure_email:
            missing = [name for name in ("smtp_host", "email_from") if not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"on_failure_email needs {' and '.join(missing)} in [agency] "
                    "(the SMTP server and the sender)")
        return self


@dataclass
class Agency:
    """The parsed agency file; `settings_for` gives one workspace's Settings."""

    path: Path
    workspaces: dict[str, WorkspaceSection]
    raw: dict[str, Any] = field(repr=False)
    notify: NotifySection = field(default_factory=NotifySection)

    @property
    def folder(self) -> Path:
        return self.path.resolve().parent

    def check_name(self, name: str) -> str:
        if name in self.workspaces:
            return name
        hint = difflib.get_close_matches(name, self.workspaces, n=1)
        known = ", ".join(sorted(self.workspaces)) or "none"
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"--workspace {name!r}: no [workspaces.{name}] in {self.path}"
                          f"{suggestion}; known: {known}")

    def settings_for(self, name: str) -> Settings:
        """Resolve one workspace: its own file (if any), then its section over it."""
        self.check_name(name)
        section = self.raw["workspaces"][name]
        origin = f"{self.path}: workspaces.{name}"
        data: dict[str, Any] = {}
        own = section.get("config")
        if own is not None:
            own_path = self._local(own)
            try:
                data = tomllib.loads(own_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"{origin}.config: no such file {own_path}") from None
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{own_path}: not valid TOML: {error}") from None
            data = _resolve(data, "")
            base = own_path.parent
        else:
            base = self.folder
        resolved = _resolve({k: v for k, v in section.items() if k != "config"},
                            f"workspaces.{name}")
        ws = dict(data.get("workspace", {}))
        ws.update({key: resolved[key] for key in WORKSPACE_KEYS if key in resolved})
        if is_postgres_url(ws.get("store")):  # `store = "postgresql://..."`: [store] url
            data["store"] = {**data.get("store", {}), "url": ws.pop("store")}
        ws.setdefault("store", f"{name}.duckdb")
        if not Path(ws["store"]).is_absolute():
            ws["store"] = str(base / ws["store"])
        data["workspace"] = ws
        for key in ("sources", "destinations"):
            merged = dict(data.get(key, {}))
            merged.update(resolved.get(key, {}))
            data[key] = merged
        for key in ("loyalty", "engine"):
            if key in resolved:
                data[key] = {**data.get(key, {}), **resolved[key]}
        for key in ("workspaces", "schedules", "agency"):
            data.pop(key, None)
        try:
            return Settings(**data)
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error, origin)) from None

    def _local(self, value: str | Path) -> Path:
        path = Path(os.path.expandvars(str(value)))
        return path if path.is_absolute() else self.folder / path


StoreTarget = Path | str
"""What `Store()` opens: a DuckDB file, or a PostgreSQL URL."""


def store_target(settings: Settings) -> StoreTarget:
    """Where a workspace's store is: `[store] url` (PostgreSQL) when set, else its file."""
    return settings.store.url or settings.workspace.store


def agency_path(explicit: Path | None = None) -> Path:
    """Where the agency file is: `--config`, then $CLIENTELA_AGENCY, then
    ./clientela-agency.toml, then the usual clientela.toml."""
    if explicit is not None:
        return explicit
    if os.environ.get(AGENCY_ENV):
        return Path(os.environ[AGENCY_ENV])
    if AGENCY_FILE.exists():
        return AGENCY_FILE
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such agency file (write [workspaces.<name>] sections "
                          f"in {AGENCY_FILE} or {DEFAULT_CONFIG_FILE})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def load_agency(path: Path) -> Agency:
    """Read the workspaces of an agency file; secrets stay unresolved until used."""
    raw = read_toml(path)
    sections = raw.get("workspaces")
    if not isinstance(sections, dict) or not sections:
        raise ConfigError(f"{path}: no [workspaces.<name>] sections; an agency file lists "
                          "its client workspaces there")
    workspaces: dict[str, WorkspaceSection] = {}
    problems: list[str] = []
    for name, section in sections.items():
        if not isinstance(section, dict):
            problems.append(f"{path}: workspaces.{name}: expected a table [workspaces.{name}]")
            continue
        try:
            workspaces[name] = WorkspaceSection.model_validate(section)
        except ValidationError as error:
            problems.append(describe_validation_error(error, f"{path}: workspaces.{name}"))
    try:
        notify = NotifySection.model_validate(_resolve(raw.get("agency", {}), "agency"))
    except ValidationError as error:
        problems.append(describe_validation_error(error, f"{path}: agency"))
        notify = NotifySection()
    if problems:
        raise ConfigError("\n".join(problems))
    return Agency(path=path, workspaces=workspaces, raw=raw, notify=notify)
