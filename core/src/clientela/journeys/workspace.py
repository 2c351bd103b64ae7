"""What the messaging commands read from the workspace: settings, journeys, channels.

Until the core's `Settings` declares the `[messaging]`, `[channels.*]` and
`[[journeys]]` sections, the core settings are validated without them and
this package validates them itself (with the same error wording).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from clientela.config import (
    ConfigError,
    Settings,
    _resolve,
    config_path,
    describe_validation_error,
    load_settings,
)
from clientela.journeys.settings import SECTIONS, MessagingConfig, messaging_config, raw_sections
from clientela.journeys.spec import Journey, load_journeys


def core_settings(config_file: Path | None) -> Settings:
    if all(name in Settings.model_fields for name in SECTIONS):
        return load_settings(config_file)
    file = config_path(config_file)
    if not file.exists():
        return load_settings(config_file)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None
    data = _resolve({k: v for k, v in data.items() if k not in SECTIONS}, "")
    try:
        return Settings(**data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, str(file))) from None


@dataclass
class MessagingWorkspace:
    settings: Settings
    raw: dict[str, Any]
    messaging: MessagingConfig
    config_dir: Path

    @classmethod
    def load(cls, config_file: Path | None) -> MessagingWorkspace:
        settings = core_settings(config_file)
        raw = raw_sections(config_file)
        file = config_path(config_file)
        return cls(settings, raw, messaging_config(raw, str(file)), file.resolve().parent)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.workspace.timezone)

    @property
    def channels_raw(self) -> dict[str, Any]:
        return dict(self.raw.get("channels") or {})

    def journeys(self) -> list[Journey]:
        return load_journeys(self.raw, self.config_dir / "journeys",
                             self.messaging.approved_whatsapp_templates)
