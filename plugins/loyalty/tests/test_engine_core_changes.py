"""The two small core changes the engine needs: a `reverse` kind of loyalty event (always
negative), and a `[loyalty]` section that keeps the plugin's keys for the plugin to check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from clientela.config import load_settings
from clientela.model import LoyaltyEvent


def test_a_reverse_event_takes_points_back() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    event = LoyaltyEvent(source="loyalty", event_id="reverse:o1", customer_id="c",
                         kind="reverse", points=-5, occurred_at=moment, order_id="o1")
    assert event.kind == "reverse"
    with pytest.raises(ValidationError, match="points must be negative for a 'reverse' event"):
        LoyaltyEvent(source="loyalty", event_id="reverse:o2", customer_id="c", kind="reverse",
                     points=5, occurred_at=moment)


def test_the_loyalty_section_keeps_plugin_keys(tmp_path: Path) -> None:
    config = tmp_path / "clientela.toml"
    config.write_text("[loyalty]\nredemption_threshold = 800\nlock_days = 7\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.loyalty.redemption_threshold == 800
    assert settings.loyalty.model_dump() == {"redemption_threshold": 800, "lock_days": 7}
