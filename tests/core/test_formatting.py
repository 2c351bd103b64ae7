"""Money, numbers and percentages in English and Brazilian Portuguese."""

from decimal import Decimal

import pytest

from clientela import formatting

NBSP = "\xa0"


def test_brazilian_money_uses_dot_thousands_and_comma_decimals() -> None:
    assert formatting.money(Decimal("1234.56"), "BRL", "pt-BR") == f"R${NBSP}1.234,56"


def test_english_money_keeps_two_decimals() -> None:
    assert formatting.money(1234.5, "USD", "en") == "$1,234.50"


def test_number_and_percent_follow_the_language() -> None:
    assert formatting.number(1234567, "pt-BR") == "1.234.567"
    assert formatting.number(Decimal("2.5"), "en", decimals=2) == "2.50"
    assert formatting.percent(Decimal("0.1234"), "pt-BR") == "12,3%"
    assert formatting.percent(0.5, "en") == "50.0%"


def test_an_unknown_language_is_named() -> None:
    with pytest.raises(formatting.UnknownLanguageError, match=r"'fr'.*en, pt-BR"):
        formatting.money(1, "BRL", "fr")
