"""What the messaging commands read from the workspace: settings, journeys, channels.

The core's `Settings` accepts the `[messaging]`, `[channels.*]` and
`[[journeys]]` sections without looking inside (so other commands run with
them present); this package validates them when a messaging command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from clientela.config import (
    Settings,
    config_path,
    load_settings,
)
from clientela.journeys.settings import MessagingConfig, messaging_config, raw_sections
from clientela.journeys.spec import Journey, load_journeys


@dataclass
class MessagingWorkspace:
    settings: Settings
    raw: dict[str, Any]
    messaging: MessagingConfig
    config_dir: Path

    @classmethod
    def load(cls, config_file: Path | None) -> MessagingWorkspace:
        settings = load_settings(config_file)
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
