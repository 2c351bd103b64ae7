"""Numbers, money and percentages written as a reader of the chosen language expects.

One module, backed by Babel's CLDR data, so the terminal tables, the HTML
report and the messages sent to customers agree on `R$ 1.234,56` versus
`R$1,234.56`. Babel separates a currency symbol from its amount with a
no-break space so that a narrow column never splits them; callers keep it.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent

from clientela.errors import NotFound

LANGUAGES: dict[str, str] = {"en": "en_US", "pt-BR": "pt_BR"}
"""The languages clientela writes in, and the CLDR locale each one uses."""

Number = int | float | Decimal


class UnknownLanguageError(NotFound):
    """A `--lang` value clientela does not write in."""


def locale_of(lang: str) -> str:
    try:
        return LANGUAGES[lang]
    except KeyError:
        known = ", ".join(LANGUAGES)
        raise UnknownLanguageError(f"language {lang!r} is not supported; expected one of {known}") from None


def money(value: Number, currency: str, lang: str = "en") -> str:
    """Two decimals always, because a total of R$ 1.234,5 reads as a typo."""
    return format_currency(Decimal(str(value)), currency, locale=locale_of(lang),
                           currency_digits=True)


def number(value: Number, lang: str = "en", *, decimals: int = 0) -> str:
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=locale_of(lang))


def percent(ratio: Number, lang: str = "en", *, decimals: int = 1) -> str:
    """A ratio (0.123) as a percentage (12.3%); the stored metric stays a ratio."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
    return format_percent(Decimal(str(ratio)), format=pattern, locale=locale_of(lang))
