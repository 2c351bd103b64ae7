"""A metric's value and its change, written for the report's language.

Numbers go through `clientela.formatting` (Babel), so the page says
`R$ 1.234,56` in Portuguese and `R$1,234.56` in English. A change of a
ratio is a difference in percentage points (a retention rate going from
40% to 42% rose 2.0 pp, not 5%); any other change is relative.
"""

from __future__ import annotations

from dataclasses import dataclass

from clientela.formatting import money, number, percent

NOTHING = "—"
MINUS = "\u2212"
"""A typographic minus: as wide as the plus, so signed changes line up."""


def format_value(value: float | None, unit: str, lang: str, currency: str) -> str:
    if value is None:
        return NOTHING
    if unit == "currency":
        return money(round(value, 2), currency, lang)
    if unit == "ratio":
        return percent(value, lang, decimals=1)
    if unit in ("count", "points"):
        return number(round(value), lang)
    if unit in ("days", "score"):
        return number(value, lang, decimals=1)
    return number(value, lang, decimals=2)


@dataclass(frozen=True)
class Change:
    """`amount` is relative (a share of the earlier value) or, for ratios, in points."""

    amount: float | None
    points: bool

    @property
    def direction(self) -> str:
        if self.amount is None or abs(self.amount) < 0.0005:
            return "flat"
        return "up" if self.amount > 0 else "down"


def change(before: float | None, after: float | None, unit: str) -> Change:
    if before is None or after is None:
        return Change(None, unit == "ratio")
    if unit == "ratio":
        return Change(after - before, True)
    if before == 0:
        return Change(None, False)
    return Change((after - before) / abs(before), False)


def format_change(found: Change, lang: str) -> str:
    if found.amount is None:
        return NOTHING
    sign = "+" if found.amount > 0 else (MINUS if found.amount < 0 else "")
    if found.points:
        return f"{sign}{number(abs(found.amount) * 100, lang, decimals=1)} pp"
    return f"{sign}{percent(abs(found.amount), lang, decimals=1)}"


LOWER_IS_BETTER = frozenset({"churn_rate", "lapsed_customers", "cac", "recency_days",
                             "interpurchase_days", "time_to_sale_days"})
"""Built-in metrics whose fall is good news: their changes are coloured the other way."""


def tone(found: Change | None, metric: str) -> str:
    """CSS class of a change: good, bad or flat (a rise is good unless the metric is one
    where less is better)."""
    if found is None or found.direction == "flat":
        return "flat"
    good = (found.direction == "up") != (metric in LOWER_IS_BETTER)
    return "good" if good else "bad"
