"""The `[loyalty]` section: the documented example loads, bad rules are refused by name."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from clientela_loyalty.rules import load_rules, parse_rules

from clientela.config import ConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "loyalty.md"


def test_the_documented_example_loads() -> None:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert block is not None
    rules = parse_rules(tomllib.loads(block.group(1))["loyalty"])
    assert (rules.lock_days, rules.exclude_skus, [t.name for t in rules.tiers]) == (
        7, ["GIFTCARD"], ["silver", "gold"])
    assert rules.multipliers()[1] == Decimal("1.5")


def test_defaults_without_a_file() -> None:
    rules = load_rules()
    assert (rules.earn_rate, rules.redemption_threshold, rules.expiry, rules.expiry_months,
            rules.point_value) == (Decimal(1), 500, "lot", 12, Decimal("0.05"))


@pytest.mark.parametrize(("section", "message"), [
    ({"lock_days": -1}, "loyalty.lock_days: Input should be greater than or equal to 0"),
    ({"earn_rat": 2}, "loyalty.earn_rat: unknown setting"),
    ({"expiry": "never"}, "loyalty.expiry: Input should be 'lot' or 'last_purchase'"),
    ({"tiers": [{"name": "gold", "min_spend": 3000}, {"name": "silver", "min_spend": 1000}]},
     "tiers: expected strictly increasing min_spend, lowest first"),
    ({"tiers": [{"name": "gold", "min_spend": 10, "multiplier": 0}]},
     "loyalty.tiers.0.multiplier: Input should be greater than 0"),
])
def test_a_bad_rule_names_its_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_rules(section)


def test_the_file_is_read_through_the_workspace_settings(tmp_path: Path) -> None:
    config = tmp_path / "clientela.toml"
    config.write_text("[loyalty]\nredemption_threshold = 800\nlock_days = 7\n", encoding="utf-8")
    rules = load_rules(config)
    assert (rules.redemption_threshold, rules.lock_days) == (800, 7)
